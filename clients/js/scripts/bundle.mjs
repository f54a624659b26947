// Builds the browser bundle that sessiond embeds and serves at
// /sdk/sessiond-client.js: the SDK with graphql-ws and graphql-sse inside,
// one ES module a plain HTML page can import without a build step.
// The output is committed; the build is deterministic (same esbuild, same
// sources → same bytes), so CI rebuilds it and fails when it differs.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// GraphQL ignores whitespace: collapse it inside the operation strings.
const compactQueries = {
  name: 'compact-queries',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]operations\.ts$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      return { contents: src.replace(/`[^`]*`/g, (m) => m.replace(/\s+/g, ' ')), loader: 'ts' };
    });
  },
};

/** Shared settings; `external` leaves packages out (for the size figures). */
export function options(extra = {}) {
  return {
    absWorkingDir: root,
    entryPoints: ['src/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome96', 'firefox96', 'safari15.4'],
    minify: true,
    legalComments: 'eof',
    logLevel: 'warning',
    plugins: [compactQueries],
    ...extra,
  };
}

export async function bundle(outfile = join(root, 'bundle', 'sessiond-client.js')) {
  await build(options({ outfile, sourcemap: 'linked', sourcesContent: true }));
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await bundle(process.argv[2]);
  console.log(`wrote ${out}`);
}
