// sessiond's GraphQL playground: GraphiQL built from npm and served from the
// binary, so it works without internet. Every request goes to the server that
// served the page: queries and mutations over HTTP POST /graphql,
// subscriptions over graphql-transport-ws on the same path, with the Headers
// pane's JSON as the connection_init payload (so `Authorization` there
// authenticates the socket and a subscription sees its own logout push).
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher, type Fetcher, type FetcherParams, type FetcherOpts } from '@graphiql/toolkit';
import { createClient } from 'graphql-ws';
import { getOperationAST, parse } from 'graphql';
import { setNonce } from 'get-nonce';
import 'graphiql/style.css';
import './page.css';

// The style nonce the server put in this response (see vite.config.js): the
// nonce attribute reads empty once parsed, the property keeps it.
const nonce = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')?.nonce;
if (nonce) setNonce(nonce);

const endpoint = new URL('/graphql', window.location.href);
const subscriptionUrl = new URL(endpoint);
subscriptionUrl.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

const http = createGraphiQLFetcher({ url: endpoint.href });

/** How long a finished subscription waits for the server's close frame. */
const CLOSE_WAIT_MS = 3000;

function isSubscription(p: FetcherParams): boolean {
  try {
    return getOperationAST(parse(p.query), p.operationName ?? undefined)?.operation === 'subscription';
  } catch {
    return false;
  }
}

// Subscriptions get a socket of their own whose connection_init payload is
// the Headers pane. When a stream ends, the socket stays open a moment so
// the server's close (4403 "session ended: LOGOUT") is seen, and shown in
// the result's `extensions.socketClosed` under the last event.
function subscribe(params: FetcherParams, opts?: FetcherOpts) {
  return {
    subscribe(observer: { next(v: unknown): void; error(e: unknown): void; complete(): void }) {
      let last: Record<string, unknown> = {};
      let closed: { code: number; reason: string } | null = null;
      let ended = false;
      let done = false;
      let timer = 0;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (closed && closed.code !== 1000) observer.next({ ...last, extensions: { socketClosed: closed } });
        observer.complete();
        void client.dispose();
      };
      const client = createClient({
        url: subscriptionUrl.href,
        connectionParams: { ...(opts?.headers ?? {}) },
        retryAttempts: 0,
        lazyCloseTimeout: CLOSE_WAIT_MS,
        on: {
          closed: (e) => {
            const ce = e as CloseEvent;
            closed = { code: ce.code, reason: ce.reason };
            if (ended) finish();
          },
        },
      });
      const stop = client.subscribe(params as { query: string }, {
        next: (v) => {
          last = v as Record<string, unknown>;
          observer.next(v);
        },
        error: (err) => {
          if (err instanceof CloseEvent) {
            closed = { code: err.code, reason: err.reason };
            ended = true;
            finish();
          } else {
            done = true;
            observer.error(err);
            void client.dispose();
          }
        },
        complete: () => {
          ended = true;
          if (closed) finish();
          else timer = window.setTimeout(finish, CLOSE_WAIT_MS);
        },
      });
      return {
        unsubscribe() {
          done = true;
          clearTimeout(timer);
          stop();
          void client.dispose();
        },
      };
    },
  };
}

const fetcher: Fetcher = (params, opts) =>
  isSubscription(params) ? (subscribe(params, opts) as unknown as ReturnType<Fetcher>) : http(params, opts);

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

// GraphiQL's history keeps each run's headers even with shouldPersistHeaders
// off. This storage drops them from saved queries and favourites unless the
// user turned "Persist headers" on.
function stripHeaders(value: string): string {
  try {
    const v = JSON.parse(value) as { queries?: Record<string, unknown>[]; favorites?: Record<string, unknown>[] };
    for (const list of [v.queries, v.favorites]) for (const q of list ?? []) delete q.headers;
    return JSON.stringify(v);
  } catch {
    return value;
  }
}

const storage: Storage = {
  get length() {
    return localStorage.length;
  },
  key: (i) => localStorage.key(i),
  clear: () => localStorage.clear(),
  getItem: (k) => localStorage.getItem(k),
  removeItem: (k) => localStorage.removeItem(k),
  setItem: (k, v) => {
    const persist = localStorage.getItem('graphiql:shouldPersistHeaders') === 'true';
    localStorage.setItem(k, !persist && /(queries|favorites)$/.test(k) ? stripHeaders(v) : v);
  },
};

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
      storage,
      defaultEditorToolsVisibility: 'headers',
    }),
  );
}

// CodeMirror's hidden textareas have no accessible name; give each editor one.
function labelEditors(): void {
  const named: [string, string][] = [
    ['.graphiql-query-editor textarea', 'Query editor'],
    ['.graphiql-editor-tool .graphiql-editor:nth-of-type(1) textarea', 'Variables editor'],
    ['.graphiql-editor-tool .graphiql-editor:nth-of-type(2) textarea', 'Headers editor'],
    ['.result-window textarea', 'Response'],
  ];
  for (const [sel, label] of named) {
    for (const el of document.querySelectorAll(sel)) if (!el.hasAttribute('aria-label')) el.setAttribute('aria-label', label);
  }
}

// GraphiQL's operation tabs are <li role="tab"> elements holding their own
// buttons: interactive controls nested in an interactive control, which
// screen readers announce twice or not at all. Make the list a plain list of
// buttons, the active one marked aria-current, so each tab is one control.
function flattenTabs(): void {
  for (const list of document.querySelectorAll('ul.graphiql-tabs[role="tablist"]')) list.removeAttribute('role');
  for (const tab of document.querySelectorAll('li.graphiql-tab[role="tab"], li.graphiql-tab[aria-selected]')) {
    const active = tab.getAttribute('aria-selected') === 'true' || tab.classList.contains('graphiql-tab-active');
    tab.removeAttribute('role');
    tab.removeAttribute('aria-selected');
    const button = tab.querySelector('button.graphiql-tab-button');
    if (button) {
      if (active) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
  }
}

// CodeMirror scrolls its text in a div that keyboard users cannot reach
// (its input is a hidden textarea outside that div): make each scroll area
// a tab stop with a name, so arrow keys and Page Up/Down scroll it.
function scrollAreas(): void {
  for (const el of document.querySelectorAll<HTMLElement>('.CodeMirror-scroll[tabindex="-1"]')) {
    el.tabIndex = 0;
    const editor = el.closest('.graphiql-query-editor, .graphiql-editor-tool .graphiql-editor, .result-window');
    const what = editor?.querySelector('textarea')?.getAttribute('aria-label') ?? 'Editor';
    el.setAttribute('aria-label', `${what} (scroll)`);
    el.setAttribute('role', 'region');
  }
}

function accessible(): void {
  labelEditors();
  flattenTabs();
  scrollAreas();
}
new MutationObserver(accessible).observe(document.body, {
  childList: true,
  subtree: true,
  attributes: true,
  attributeFilter: ['role', 'aria-selected', 'class', 'tabindex'],
});
