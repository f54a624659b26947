// Regenerates the committed generated files (operation types from
// ../../schema.graphqls, the embedded browser bundle) and fails when they
// changed: run by CI, like `go generate` is for gqlgen's output. The fresh
// files are left in place, so committing them fixes the failure.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bundle } from './bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = ['src/generated/graphql.ts', 'bundle/sessiond-client.js', 'bundle/sessiond-client.js.map'];
const read = (f) => {
  try {
    return readFileSync(join(root, f));
  } catch {
    return Buffer.alloc(0);
  }
};
const before = files.map(read);

execFileSync(join(root, 'node_modules', '.bin', 'graphql-codegen'), ['--config', 'codegen.ts', '--silent'], { cwd: root, stdio: 'inherit' });
await bundle();

const stale = files.filter((f, i) => !read(f).equals(before[i]));
if (stale.length) {
  console.error(`stale generated files (now regenerated; commit them):\n  ${stale.join('\n  ')}`);
  console.error('run `npm run codegen && npm run bundle` in clients/js after changing schema.graphqls or src/');
  process.exit(1);
}
console.log('generated operation types and the browser bundle are up to date');
