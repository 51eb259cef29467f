import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.ts"

export default defineConfig({
  test: {
    projects,
    // Consumers and retries log as they work: a test's output is shown only when it fails.
    silent: "passed-only"
  }
})
