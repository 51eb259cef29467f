// Shared by every test project: inside the workspace, `@strata/*` imports resolve to the TypeScript
// sources through the `@strata/source` export condition (published packages resolve to dist/).
import { defaultClientConditions, defaultServerConditions } from "vite"
import { defineProject } from "vitest/config"

const source = "@strata/source"

export const shared = defineProject({
  // Child processes a test starts (`node -e ...`) resolve the same way.
  test: { env: { NODE_OPTIONS: [process.env.NODE_OPTIONS, `--conditions=${source}`].filter(Boolean).join(" ") } },
  resolve: { conditions: [source, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [source, ...defaultServerConditions], externalConditions: [source] } }
})
