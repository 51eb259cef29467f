/**
 * @strata/testing: given / when / then for aggregates (deciders) and projections, run on a fresh
 * in-memory or SQLite `:memory:` store per scenario, as Effects for `it.effect` from @effect/vitest.
 *
 * @module @strata/testing
 * @since 0.1.0
 */
export * as DeciderSpec from "./DeciderSpec.ts"
export * as Expectation from "./Expectation.ts"
export * as NamedTestStore from "./NamedTestStore.ts"
export * as ProjectionSpec from "./ProjectionSpec.ts"
export * as TestStore from "./TestStore.ts"
