import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "http",
      include: ["test/**/*.test.ts"],
      // The files share one worker's module graph (isolate: false) instead of importing Effect and the
      // sources again per file, which took over half of the project's time; no file leaves global state.
      isolate: false,
      testTimeout: 30_000
    }
  })
)
