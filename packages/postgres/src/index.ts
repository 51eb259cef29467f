/**
 * @strata/postgres: Strata on PostgreSQL: the store layer, the dialect, its migrations, the
 * gap-free read horizon, the LISTEN/NOTIFY wake-ups, a schema per store and reads from hot standbys.
 *
 * @module @strata/postgres
 * @since 0.1.0
 */
export * as PgDialect from "./PgDialect.ts"
export * as PgHorizon from "./PgHorizon.ts"
export * as PgMigrations from "./PgMigrations.ts"
export * as PgNotifier from "./PgNotifier.ts"
export * as PgReplica from "./PgReplica.ts"
export * as PgSchema from "./PgSchema.ts"
export * as PgStore from "./PgStore.ts"
export * as PgUrl from "./PgUrl.ts"
