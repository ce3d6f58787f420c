import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Pothos and yoga load graphql's CommonJS build; without this, vitest would hand our own
    // modules the ESM build too, and graphql refuses to mix two copies of itself.
    alias: { graphql: 'graphql/index.js' },
  },
  test: {
    include: ['src/**/*.test.ts', 'model/**/*.test.ts', 'scripts/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    // Tests start real servers (dynalite, cognito-local, Redis clients); 2-core CI needs headroom.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Redis and Chromium are probed once; suites needing a missing one are skipped and named at
    // the start and under the summary (a hard failure under CI=true).
    globalSetup: ['./test/support/services-setup.ts'],
    reporters: ['default', './test/support/services-reporter.ts'],
  },
});
