import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** clients/js */
export const PKG_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** the sessiond repository */
export const REPO_ROOT = join(PKG_ROOT, '..', '..');
