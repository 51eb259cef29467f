// The test projects, one per package. vitest 5 no longer reads a workspace file on its own:
// vitest.config.ts imports this list into `test.projects`, so this file stays the one place to look.
export default [
  "packages/core",
  "packages/conformance",
  "packages/sql",
  "packages/postgres",
  // The failover tests on a pg_auto_failover cluster of their own: slow, so `npm test` leaves them out
  // (--project '!postgres-cluster'); `npm run test:postgres:cluster` runs them.
  "packages/postgres/vitest.cluster.config.ts",
  "packages/sqlite",
  "packages/d1",
  "packages/kurrentdb",
  // The KurrentDB conformance suite again with the emulator in the older mode (Append, not BatchAppend).
  "packages/kurrentdb/vitest.append.config.ts",
  "packages/kurrentdb-emulator",
  "packages/strata",
  "packages/testing",
  "packages/http",
  "packages/console",
  "packages/cli",
  "examples"
]
