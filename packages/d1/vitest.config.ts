import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "d1",
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      // worker.test.ts bundles examples/worker.ts from the packages' dist/, as a deployed Worker would.
      globalSetup: ["../../scripts/build-for-tests.ts"]
    }
  })
)
