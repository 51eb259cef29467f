import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../vitest.shared.ts"

const config = mergeConfig(
  shared,
  defineProject({
    test: {
      name: "examples",
      include: ["test/**/*.test.ts"],
      // The files share one worker's module graph (isolate: false) instead of importing Effect and the
      // sources per file.
      isolate: false,
      testTimeout: 30_000
    }
  })
)

// Node loads the dependencies with these conditions. Without "module": the OpenTelemetry packages'
// "module" builds import without file extensions, which Node cannot load (their default builds can).
const ssrConditions: Array<string> | undefined = config.ssr?.resolve?.conditions
if (ssrConditions !== undefined) config.ssr!.resolve!.conditions = ssrConditions.filter((c) => c !== "module")

export default config
