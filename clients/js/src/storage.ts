/** Where the session token is kept; see README "Choosing a storage". */
export type StorageOption = 'session' | 'local' | 'memory' | Storage;

/** The one token slot the client reads and writes. */
export interface TokenStore {
  get(): string | null;
  set(token: string | null): void;
}

/**
 * Opens the token slot `key` in the chosen storage. Browsers that refuse
 * storage (private modes, blocked cookies throw on access) fall back to
 * memory, so the client still works for the life of the page.
 */
export function tokenStore(option: StorageOption, key: string): TokenStore {
  let memory: string | null = null;
  const fallback: TokenStore = {
    get: () => memory,
    set: (t) => {
      memory = t;
    },
  };
  let backing: Storage | undefined;
  try {
    if (option === 'session') backing = globalThis.sessionStorage;
    else if (option === 'local') backing = globalThis.localStorage;
    else if (option !== 'memory') backing = option;
    backing?.getItem(key);
  } catch {
    backing = undefined;
  }
  if (!backing) return fallback;
  const s = backing;
  return {
    get() {
      try {
        return s.getItem(key);
      } catch {
        return memory;
      }
    },
    set(t) {
      memory = t;
      try {
        if (t === null) s.removeItem(key);
        else s.setItem(key, t);
      } catch {
        // Quota or policy: the memory copy keeps the page working.
      }
    },
  };
}
