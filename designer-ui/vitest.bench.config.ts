import { defineConfig } from 'vitest/config'

// The browser benchmark (`npm run bench:ui`): the real server and the system Chromium, like the
// browser tests, but it prints figures and asserts no time. Not part of the test command.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['bench/**/*.bench.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 300_000,
  },
})
