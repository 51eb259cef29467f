import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "kurrentdb-emulator",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
