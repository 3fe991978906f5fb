import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // Pure helpers of the long suites are unit-tested beside them (*.unit.test.ts).
          include: ['agent/**/*.test.ts', 'test/**/*.unit.test.ts'],
          exclude: ['agent/**/*.int.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['agent/**/*.int.test.ts', 'test/integration/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
      {
        // High availability on a small cluster of its own (pgmtest-ha): the patroni
        // backend's rolling restarts and fenced failover (npm run test:ha; docs/ha.md).
        test: {
          name: 'ha',
          include: ['test/ha/**/*.test.ts'],
          testTimeout: 900_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
      {
        // The default cluster across a `pgmesh lab` (npm run test:lab; docs/multihost.md).
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
      {
        // Fault injection, many trials per fault (npm run test:chaos; docs/ha.md).
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
