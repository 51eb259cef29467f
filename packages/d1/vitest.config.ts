import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "d1",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
