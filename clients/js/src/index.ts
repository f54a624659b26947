// @sessiond/client: the sessiond SDK for single-page apps.
export { createClient } from './client.js';
export type {
  ClientOptions,
  ExpiringSoon,
  ExpiryRule,
  Me,
  RequestOptions,
  Session,
  SessionEndReason,
  SessionEnded,
  SessionEvent,
  SessionEventKind,
  SessionState,
  SessionStatus,
  SessiondClient,
  StorageOption,
  TrackActivityOptions,
  TransportMode,
  User,
} from './client.js';
export { SessiondError, type ErrorCode } from './errors.js';
