/**
 * The codes sessiond puts in `extensions.code`, plus `NETWORK` for a
 * request that got no usable answer (offline, DNS, a proxy's HTML page).
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'FEATURE_DISABLED'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'INTERNAL'
  | 'NETWORK';

/**
 * An error from sessiond, mapping a GraphQL error's `extensions` one to one:
 * `code` always, `reason` (why a session ended) for UNAUTHENTICATED with an
 * ended session, `field` for BAD_USER_INPUT, `retryAfter` (seconds) for
 * RATE_LIMITED. `status` is the HTTP status when there was one.
 */
export class SessiondError extends Error {
  readonly code: ErrorCode;
  readonly reason?: string;
  readonly field?: string;
  readonly retryAfter?: number;
  readonly status?: number;

  constructor(
    code: ErrorCode,
    message: string,
    extra: { reason?: string; field?: string; retryAfter?: number; status?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'SessiondError';
    this.code = code;
    if (extra.reason !== undefined) this.reason = extra.reason;
    if (extra.field !== undefined) this.field = extra.field;
    if (extra.retryAfter !== undefined) this.retryAfter = extra.retryAfter;
    if (extra.status !== undefined) this.status = extra.status;
  }
}

/** A GraphQL error as sessiond sends it. */
export interface GraphQLErrorLike {
  message?: string;
  extensions?: Record<string, unknown>;
}

const CODES = new Set<string>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'FEATURE_DISABLED',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'INTERNAL',
]);

/** Turns a GraphQL error into a SessiondError; unknown codes become INTERNAL. */
export function fromGraphQLError(e: GraphQLErrorLike, status?: number): SessiondError {
  const ext = e.extensions ?? {};
  const raw = typeof ext['code'] === 'string' ? ext['code'] : '';
  const code = (CODES.has(raw) ? raw : 'INTERNAL') as ErrorCode;
  const extra: { reason?: string; field?: string; retryAfter?: number; status?: number } = {};
  if (typeof ext['reason'] === 'string') extra.reason = ext['reason'];
  if (typeof ext['field'] === 'string') extra.field = ext['field'];
  if (typeof ext['retryAfter'] === 'number') extra.retryAfter = ext['retryAfter'];
  if (status !== undefined) extra.status = status;
  return new SessiondError(code, e.message || code, extra);
}
