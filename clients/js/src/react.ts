// @sessiond/client/react: a provider and hooks over a SessiondClient.
// React is a peer dependency of this subpath only.
import { createContext, createElement, useContext, useSyncExternalStore, type ReactNode } from 'react';

import type { ExpiringSoon, SessiondClient, SessionState } from './client.js';

const Ctx = createContext<SessiondClient | null>(null);

/** Makes `client` available to the hooks below it. */
export function SessiondProvider(props: { client: SessiondClient; children?: ReactNode }): ReactNode {
  return createElement(Ctx.Provider, { value: props.client }, props.children);
}

/** The client given to the nearest SessiondProvider. */
export function useSessiond(): SessiondClient {
  const c = useContext(Ctx);
  if (!c) throw new Error('useSessiond/useSession must be used inside <SessiondProvider client={…}>');
  return c;
}

function useClientState(): SessionState {
  const c = useSessiond();
  return useSyncExternalStore(
    (cb) => c.subscribe(cb),
    () => c.getState(),
    () => c.getState(),
  );
}

/** The sign-in state; re-renders when it changes (in this tab or another). */
export function useSession(): Pick<SessionState, 'status' | 'session' | 'user' | 'endedReason'> {
  const s = useClientState();
  return { status: s.status, session: s.session, user: s.user, endedReason: s.endedReason };
}

/**
 * The pending EXPIRING_SOON warning, or null. It clears itself when the
 * deadline moves (staySignedIn, any activity) or the session ends.
 */
export function useExpiringSoon(): ExpiringSoon | null {
  return useClientState().expiringSoon;
}
