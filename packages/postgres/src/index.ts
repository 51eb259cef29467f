/**
 * @strata/postgres: Strata on PostgreSQL.
 *
 * @module @strata/postgres
 * @since 0.1.0
 */
export * as PgStore from "./PgStore.ts"
export * as PgUrl from "./PgUrl.ts"
