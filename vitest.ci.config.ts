import { defineConfig } from 'vitest/config';

// Tests too slow or too invasive for `npm test` (they install Debian packages, emulate arm64,
// pack and install the package): `npm run test:ci`, which .ci/run runs after `npm test`.
export default defineConfig({
  test: {
    include: ['test/ci/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
