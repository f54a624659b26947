import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Each file starts its own sessiond; one at a time keeps timing honest
    // on small CI machines (and Chromium is heavy).
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 240_000,
  },
});
