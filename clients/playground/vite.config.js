import { defineConfig } from 'vite';

// The page is served at / and its assets under /playground/ (see graph/pages.go).
export default defineConfig({
  base: '/playground/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Everything is inlined or emitted as files; no data: script URLs and no CDN.
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
  },
});
