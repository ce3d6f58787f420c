import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'model/**/*.test.ts', 'scripts/**/*.test.ts'],
    // Tests start real servers (dynalite, cognito-local, Redis clients); 2-core CI needs headroom.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
