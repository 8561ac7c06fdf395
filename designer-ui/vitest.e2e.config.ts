import { defineConfig } from 'vitest/config'

// Browser tests: the real `kangdao` server (debug build) on SQLite in a temporary folder, driven
// by playwright-core through the system Chromium. One file at a time: they share the CPU.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['e2e/**/*.e2e.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
})
