import { defineConfig } from 'vitest/config';

// Each test file runs in its own process: namespace tests set their own XTABLES_LOCKFILE
// in process.env, and the addon is loaded once per process.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/ci/**', '**/node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
