import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// Two entry modules with stable names, served under /portal/ (graph/pages.go):
// elements.js (the web components, usable from any allowed origin) and
// console.js (the environment owner's console, which imports elements.js),
// plus the transports' chunks, loaded once a member is signed in.
// public/ holds the two pages, copied as they are. The client SDK is built
// from its source in clients/js (its runtime dependencies resolve here).
export default defineConfig({
  base: '/portal/',
  publicDir: 'public',
  resolve: {
    alias: { '@sessiond/client': fileURLToPath(new URL('../js/src/index.ts', import.meta.url)) },
    dedupe: ['graphql-ws', 'graphql-sse'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: false,
    rollupOptions: {
      input: { elements: 'src/elements.ts', console: 'src/console.ts' },
      preserveEntrySignatures: 'allow-extension',
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: '[name]-[hash].js',
        // The realtime transports load on first use (connection.ts and the
        // SDK's realtime.ts import them dynamically): name their chunks.
        manualChunks(id) {
          if (id.includes('/node_modules/graphql-ws/')) return 'graphql-ws';
          if (id.includes('/node_modules/graphql-sse/')) return 'graphql-sse';
        },
        format: 'es',
      },
    },
  },
});
