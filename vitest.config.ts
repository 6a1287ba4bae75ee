import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{shared,manager,agent,dev,cli,test,bench}/**/*.test.ts"],
    // Orbit's programs compiled once, so the tests' child processes start without tsx.
    globalSetup: ["test/support/programs-global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The real-libvirt and e2e suites start processes and daemons: keep files sequential-ish on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
