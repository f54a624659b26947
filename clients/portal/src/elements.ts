// The portal's web components, one module: /portal/elements.js. Importing it
// defines <sessiond-login>, <sessiond-sessions>, <sessiond-users> and
// <sessiond-security>; each takes an optional `api` attribute (the GraphQL
// URL, default this origin's /graphql) so another allowed origin can embed
// them. Elements pointing at one API share one sign-in and one socket.
import { SessiondLogin } from './login.js';
import { SessiondSessions } from './sessions.js';
import { SessiondUsers } from './users.js';
import { SessiondSecurity } from './security.js';

export { SessiondLogin, SessiondSessions, SessiondUsers, SessiondSecurity };
export { ApiError, Connection } from './connection.js';
export { memberFor, MemberSession } from './member.js';
export { SessiondElement, theme, reasonText, when } from './base.js';

const tags: [string, CustomElementConstructor][] = [
  ['sessiond-login', SessiondLogin],
  ['sessiond-sessions', SessiondSessions],
  ['sessiond-users', SessiondUsers],
  ['sessiond-security', SessiondSecurity],
];
for (const [tag, ctor] of tags) if (!customElements.get(tag)) customElements.define(tag, ctor);
