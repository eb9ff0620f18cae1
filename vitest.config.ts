import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    // The CLI suites run the compiled bin: rebuild dist/ first when the sources are newer.
    globalSetup: ['test/package/build-fresh.ts'],
    // Suites mount overlays and open LMDB environments: forks keep native state per process.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
