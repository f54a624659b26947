// The GraphQL operations the SDK sends. GraphQL Code Generator reads these
// strings (the /* GraphQL */ marker), validates them against
// ../../schema.graphqls and writes their result types to
// src/generated/graphql.ts, so a schema change that breaks the SDK fails
// `npm run codegen` and then the type check.

const SESSION_FIELDS = /* GraphQL */ `
  fragment SessionFields on Session {
    id
    createdAt
    lastActiveAt
    idleExpiresAt
    absoluteExpiresAt
    expiresAt
    ipAddress
    userAgent
    device
    current
    active
    endedAt
    endReason
  }
`;

const USER_FIELDS = /* GraphQL */ `
  fragment UserFields on User {
    id
    email
    name
  }
`;

export const LOGIN = /* GraphQL */ `
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      token
      session {
        ...SessionFields
        user {
          ...UserFields
        }
        tenant {
          id
          name
        }
      }
    }
  }
  ${SESSION_FIELDS}
  ${USER_FIELDS}
`;

export const ME = /* GraphQL */ `
  query Me {
    me {
      user {
        ...UserFields
      }
      tenant {
        id
        name
      }
      session {
        ...SessionFields
      }
      roles {
        id
        key
        name
      }
      permissions
    }
  }
  ${SESSION_FIELDS}
  ${USER_FIELDS}
`;

export const MY_SESSIONS = /* GraphQL */ `
  query MySessions {
    mySessions {
      ...SessionFields
    }
  }
  ${SESSION_FIELDS}
`;

export const REVOKE_SESSION = /* GraphQL */ `
  mutation RevokeSession($id: ID!) {
    revokeSession(id: $id) {
      ...SessionFields
    }
  }
  ${SESSION_FIELDS}
`;

export const REVOKE_MY_SESSIONS = /* GraphQL */ `
  mutation RevokeMySessions($includeCurrent: Boolean) {
    revokeMySessions(includeCurrent: $includeCurrent)
  }
`;

export const RECORD_ACTIVITY = /* GraphQL */ `
  mutation RecordActivity {
    recordActivity {
      ...SessionFields
    }
  }
  ${SESSION_FIELDS}
`;

export const LOGOUT = /* GraphQL */ `
  mutation Logout {
    logout {
      ...SessionFields
    }
  }
  ${SESSION_FIELDS}
`;

export const SESSION_TERMINATED = /* GraphQL */ `
  subscription SessionTerminated {
    sessionTerminated {
      ...SessionFields
    }
  }
  ${SESSION_FIELDS}
`;

export const SESSION_EVENTS = /* GraphQL */ `
  subscription SessionEvents {
    sessionEvents {
      kind
      reason
      at
      session {
        ...SessionFields
      }
    }
  }
  ${SESSION_FIELDS}
`;
