// An example single-page app on @sessiond/client, loaded straight from the
// sessiond server: no build step, no inline script (it runs under a strict
// Content-Security-Policy). Serve this folder and sessiond on one origin,
// e.g. with `node serve.mjs` (see README.md).
import { createClient } from '/sdk/sessiond-client.js';

const sd = createClient({ url: '/graphql', storage: 'session' });

// What each end reason means to the user.
const REASONS = {
  LOGOUT: 'You signed out.',
  REVOKED_BY_USER: 'This session was ended from another of your sessions.',
  REVOKED_BY_ADMIN: 'An administrator signed you out.',
  IDLE_TIMEOUT: 'You were signed out after a period of inactivity.',
  FORCE_RELOGIN: 'Your session reached its maximum lifetime. Please sign in again.',
  CONCURRENT_SESSION_LIMIT: 'You signed in somewhere else, which ended this session.',
  USER_REMOVED: 'Your account was removed from this workspace.',
};

const $ = (id) => document.getElementById(id);
const fmt = (iso) => new Date(iso).toLocaleString();

// The two lines of the logout integration:
sd.onSessionEnded(({ reason }) => {
  show($('ended'), REASONS[reason] ?? 'Your session is no longer valid. Please sign in again.');
  $('ended').dataset.reason = reason ?? '';
  if ($('expiring').open) $('expiring').close();
});

sd.onExpiringSoon(({ expiresAt, rule }) => {
  if (rule !== 'IDLE') return; // only the idle deadline can be extended
  $('expiring-at').textContent = fmt(expiresAt);
  $('expiring-at').dateTime = expiresAt;
  if (!$('expiring').open) $('expiring').showModal();
});

sd.onSessionEvent(() => {
  if (sd.getState().status === 'signed-in') void loadSessions();
});

sd.trackActivity();

function show(el, text) {
  if (text !== undefined) el.textContent = text;
  el.hidden = false;
}

function render(state) {
  document.body.dataset.status = state.status;
  $('status').textContent = { loading: 'Loading…', 'signed-in': 'Signed in', 'signed-out': 'Signed out' }[state.status];
  $('signed-out').hidden = state.status !== 'signed-out';
  $('signed-in').hidden = state.status !== 'signed-in';
  if (state.status === 'signed-in') {
    $('who').textContent = state.user?.email ?? '';
    $('device').textContent = state.session?.device ?? '';
    $('expires').textContent = state.session ? fmt(state.session.expiresAt) : '';
    $('ended').hidden = true;
  }
  if (!state.expiringSoon && $('expiring').open) $('expiring').close();
}

function renderConnection() {
  const text = sd.isLeader ? (sd.connected ? `live (${sd.transport}, this tab holds it)` : 'connecting…') : 'shared from another tab';
  $('connection').textContent = text;
  document.body.dataset.leader = String(sd.isLeader);
  document.body.dataset.connected = String(sd.connected);
}

let lastStatus = '';
sd.subscribe((state) => {
  render(state);
  if (state.status === 'signed-in' && lastStatus !== 'signed-in') void loadSessions();
  lastStatus = state.status;
});
render(sd.getState());
setInterval(renderConnection, 100);

async function loadSessions() {
  try {
    const list = await sd.sessions({ passive: true });
    $('sessions-error').hidden = true;
    $('sessions').replaceChildren(
      ...list.map((s) => {
        const li = document.createElement('li');
        li.dataset.sessionId = s.id;
        li.textContent = `${s.device || 'Unknown device'} · since ${fmt(s.createdAt)}${s.current ? ' (this session)' : ''} `;
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = s.current ? 'Sign out' : 'End';
        b.setAttribute('aria-label', `End the session on ${s.device || 'unknown device'} since ${fmt(s.createdAt)}`);
        b.addEventListener('click', () => sd.revokeSession(s.id).then(loadSessions, showSessionsError));
        li.append(b);
        return li;
      }),
    );
  } catch (err) {
    showSessionsError(err);
  }
}

function showSessionsError(err) {
  show($('sessions-error'), err.code === 'FEATURE_DISABLED' ? 'Session management is turned off for this workspace.' : err.message);
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  $('login-error').hidden = true;
  try {
    await sd.login({ email: f.get('email'), password: f.get('password'), tenantId: f.get('tenantId') || undefined });
    e.target.reset();
  } catch (err) {
    const msg = err.code === 'RATE_LIMITED' ? `Too many attempts; try again in ${err.retryAfter} s.` : err.code === 'UNAUTHENTICATED' ? 'Wrong email or password.' : err.message;
    show($('login-error'), msg);
  }
});

$('logout').addEventListener('click', () => sd.logout().catch((err) => show($('sessions-error'), err.message)));
$('revoke-others').addEventListener('click', () => sd.revokeOtherSessions().then(loadSessions, showSessionsError));
$('stay').addEventListener('click', async () => {
  await sd.staySignedIn().catch(() => {});
  $('expiring').close();
});

// For the browser tests and for poking around in the console.
window.sd = sd;
