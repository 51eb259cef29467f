import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

// The KurrentDB conformance suite a second time, on an emulator in the older mode: BatchAppend is
// neither advertised nor served, so the client appends with the v1 Append call (the path it also takes
// when a call carries its own credentials). The `kurrentdb` project covers the BatchAppend path.
export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "kurrentdb-append",
      include: ["test/conformance.test.ts"],
      env: { STRATA_KURRENT_APPEND: "append" },
      testTimeout: 30_000
    }
  })
)
