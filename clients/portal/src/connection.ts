// Connection to one sessiond API: GraphQL over HTTP for queries and
// mutations, one graphql-transport-ws socket (opened lazily, shared by every
// subscription of this connection) for live updates. The credential is read
// on every request, so a sign-in or sign-out takes effect at once.
import type { Client, ClientOptions } from 'graphql-ws/client';

/** An error answered by the API, with its `extensions` one to one. */
export class ApiError extends Error {
  readonly code: string;
  readonly reason?: string;
  readonly field?: string;
  readonly retryAfter?: number;
  constructor(message: string, ext: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = typeof ext.code === 'string' ? ext.code : 'INTERNAL';
    if (typeof ext.reason === 'string') this.reason = ext.reason;
    if (typeof ext.field === 'string') this.field = ext.field;
    if (typeof ext.retryAfter === 'number') this.retryAfter = ext.retryAfter;
  }
}

/** The error code of an ApiError or the SDK's SessiondError (same fields). */
export function codeOf(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** True for errors that mean "this section is not for you": hide it. */
export function isHidden(err: unknown): boolean {
  const c = codeOf(err);
  return c === 'FEATURE_DISABLED' || c === 'FORBIDDEN' || c === 'UNAUTHENTICATED';
}

export type Requester = <T>(query: string, variables?: Record<string, unknown>, opts?: { passive?: boolean }) => Promise<T>;

export interface Sink<T> {
  next(data: T): void;
  error?(err: unknown): void;
}

export type CloseListener = (code: number, reason: string) => void;

export class Connection {
  readonly url: string;
  private readonly credential: () => string | null;
  private ws: Client | null = null;
  private readonly closeListeners = new Set<CloseListener>();

  private readonly requester: Requester | null;

  /** requester, when given, runs queries and mutations (the SDK's request); the socket stays this class's. */
  constructor(url: string, credential: () => string | null, requester: Requester | null = null) {
    this.url = new URL(url, document.baseURI).href;
    this.credential = credential;
    this.requester = requester;
  }

  /** Runs a query or mutation; throws ApiError for the first GraphQL error. */
  async request<T>(query: string, variables?: Record<string, unknown>, opts: { passive?: boolean } = {}): Promise<T> {
    if (this.requester) return this.requester<T>(query, variables, opts);
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
    const cred = this.credential();
    if (cred) headers.Authorization = `Bearer ${cred}`;
    if (opts.passive) headers['X-Session-Activity'] = 'passive';
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), credentials: 'omit' });
    } catch {
      throw new ApiError('The server cannot be reached. Check your connection and try again.', { code: 'NETWORK' });
    }
    let body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
    try {
      body = await res.json();
    } catch {
      throw new ApiError(`The server answered ${res.status} without a GraphQL response.`, { code: 'INTERNAL' });
    }
    if (body.errors?.length) {
      const e = body.errors[0]!;
      throw new ApiError(e.message, e.extensions);
    }
    return body.data as T;
  }

  /**
   * Starts a subscription on the shared socket; returns its stop function.
   * graphql-ws loads on the first subscription (a signed-out page never
   * needs it), so the subscription starts a moment after the call.
   */
  subscribe<T>(query: string, variables: Record<string, unknown> | undefined, sink: Sink<T>): () => void {
    let stop: (() => void) | null = null;
    let cancelled = false;
    import('graphql-ws/client').then(
      ({ createClient }) => {
        if (!cancelled) stop = this.start(this.socket(createClient), query, variables, sink);
      },
      () => {
        if (!cancelled) sink.error?.(new ApiError('Live updates could not load. Reload the page to try again.', { code: 'NETWORK' }));
      },
    );
    return () => {
      cancelled = true;
      stop?.();
    };
  }

  private start<T>(ws: Client, query: string, variables: Record<string, unknown> | undefined, sink: Sink<T>): () => void {
    return ws.subscribe<T>(
      { query, variables },
      {
        next: (msg) => {
          if (msg.errors?.length) {
            const e = msg.errors[0]!;
            sink.error?.(new ApiError(e.message, e.extensions as Record<string, unknown>));
            return;
          }
          if (msg.data) sink.next(msg.data as T);
        },
        error: (err) => {
          if (Array.isArray(err) && err.length) {
            const e = err[0] as { message: string; extensions?: Record<string, unknown> };
            sink.error?.(new ApiError(e.message, e.extensions));
          } else sink.error?.(err);
        },
        complete: () => {},
      },
    );
  }

  /** Called whenever the socket closes, with the close code (4403: the session ended). */
  onClose(l: CloseListener): () => void {
    this.closeListeners.add(l);
    return () => this.closeListeners.delete(l);
  }

  /** Closes the socket; the next subscription opens a new one with the current credential. */
  reset(): void {
    const ws = this.ws;
    this.ws = null;
    void ws?.dispose();
  }

  private socket(createClient: (o: ClientOptions) => Client): Client {
    if (this.ws) return this.ws;
    const url = new URL(this.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = createClient({
      url: url.href,
      lazy: true,
      lazyCloseTimeout: 1000,
      retryAttempts: 1e9,
      connectionParams: () => {
        const cred = this.credential();
        return cred ? { Authorization: `Bearer ${cred}` } : {};
      },
      // 4401/4403 mean the credential is gone: retrying cannot help.
      shouldRetry: (e) => !(e instanceof CloseEvent && (e.code === 4401 || e.code === 4403 || e.code === 4400)),
      on: {
        closed: (e) => {
          const ce = e as CloseEvent;
          for (const l of this.closeListeners) l(ce.code, ce.reason);
        },
      },
    });
    this.ws = ws;
    return ws;
  }
}
