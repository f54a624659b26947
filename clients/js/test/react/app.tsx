// A React page for the browser test of @sessiond/client/react.
import { createRoot } from 'react-dom/client';

import { createClient } from '../../src/index.js';
import { SessiondProvider, useExpiringSoon, useSession } from '../../src/react.js';

const sd = createClient({ url: '/graphql', storage: 'session' });
(window as unknown as { sd: typeof sd }).sd = sd;

function Status() {
  const { status, user, session, endedReason } = useSession();
  const warning = useExpiringSoon();
  return (
    <main>
      <p data-testid="status">{status}</p>
      <p data-testid="user">{user?.email ?? ''}</p>
      <p data-testid="session">{session?.id ?? ''}</p>
      <p data-testid="ended">{endedReason ?? ''}</p>
      <p data-testid="warning">{warning ? warning.rule : ''}</p>
    </main>
  );
}

createRoot(document.getElementById('root')!).render(
  <SessiondProvider client={sd}>
    <Status />
  </SessiondProvider>,
);
