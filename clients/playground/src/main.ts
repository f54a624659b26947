// sessiond's GraphQL playground: GraphiQL built from npm and served from the
// binary, so it works without internet. Every request goes to the server that
// served the page: queries and mutations over HTTP POST /graphql,
// subscriptions over graphql-transport-ws on the same path, with the Headers
// pane's JSON as the connection_init payload (so `Authorization` there
// authenticates the socket and a subscription sees its own logout push).
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
import './page.css';

const endpoint = new URL('/graphql', window.location.href);
const subscriptionUrl = new URL(endpoint);
subscriptionUrl.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

const fetcher = createGraphiQLFetcher({
  url: endpoint.href,
  subscriptionUrl: subscriptionUrl.href,
});

const defaultQuery = `# Welcome to sessiond's playground (GraphiQL, served offline by the server).
#
# 1. Sign in (the demo prints its users' passwords: go run . -demo):
mutation SignIn {
  login(input: {email: "admin@demo.example", password: "<printed password>"}) {
    token
    session { id device expiresAt }
  }
}
# 2. Put the token in the Headers pane below:
#      {"Authorization": "Bearer <token>"}
#    then ask who you are:
query WhoAmI {
  me { user { email } tenant { name } session { id expiresAt } permissions }
}
# 3. Watch your own sessions live; ending this session (logout, or
#    "Sign out" in /portal/) pushes TERMINATED, then the server closes the
#    socket with 4403.
subscription Live {
  sessionEvents { kind reason at session { id device } }
}
`;

const root = document.getElementById('graphiql');
if (root) {
  root.textContent = '';
  createRoot(root).render(
    createElement(GraphiQL, {
      fetcher,
      defaultQuery,
      // The Headers pane may hold the admin key: keep it out of browser
      // storage unless the user turns "Persist headers" on in Settings.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    }),
  );
}
