/**
 * @strata/testing: given / when / then for aggregates (deciders) and projections, run on a fresh
 * store per scenario (in memory, SQLite `:memory:`, a PostgreSQL database of its own, or KurrentDB),
 * as Effects for `it.effect` from @effect/vitest.
 *
 * @module @strata/testing
 * @since 0.1.0
 */
export * as DeciderSpec from "./DeciderSpec.ts"
export * as Expectation from "./Expectation.ts"
export * as NamedTestStore from "./NamedTestStore.ts"
export * as ProjectionSpec from "./ProjectionSpec.ts"
export * as TestStore from "./TestStore.ts"
