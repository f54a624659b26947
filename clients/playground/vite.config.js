import { defineConfig } from 'vite';

// The page is served at / and its assets under /playground/ (see graph/pages.go).
export default defineConfig({
  base: '/playground/',
  // GraphiQL's dialogs lock scrolling with a <style> element whose content
  // depends on the scrollbar width, so no hash can allow it. The server
  // swaps this placeholder for a fresh nonce on every GET / and allows
  // that nonce in style-src; main.ts hands it to the code that makes the
  // element (get-nonce, read by react-style-singleton).
  html: { cspNonce: 'SESSIOND_CSP_NONCE' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Everything is inlined or emitted as files; no data: script URLs and no CDN.
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
  },
});
