// The test projects, one per package. vitest 5 no longer reads a workspace file on its own:
// vitest.config.ts imports this list into `test.projects`, so this file stays the one place to look.
export default [
  "packages/core",
  "packages/conformance",
  "packages/sql",
  "packages/postgres",
  "packages/sqlite",
  "packages/d1",
  "packages/kurrentdb",
  "packages/kurrentdb-emulator",
  "packages/strata",
  "packages/testing",
  "packages/http",
  "packages/console",
  "packages/cli",
  "examples"
]
