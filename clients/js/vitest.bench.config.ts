// `npm run bench`: the size, latency and connection figures of
// docs/benchmarks.md (not part of `npm test`: no wall-clock thresholds there).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['bench/**/*.bench.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 240_000,
  },
});
