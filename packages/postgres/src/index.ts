/**
 * @strata/postgres: Strata on PostgreSQL: the store layer, the dialect, its migrations, the
 * gap-free read horizon, the LISTEN/NOTIFY wake-ups, a schema per store, reads from hot standbys and
 * a store that follows the primary of a cluster through failover (`PgCluster`).
 *
 * @module @strata/postgres
 * @since 0.1.0
 */
export * as PgCluster from "./PgCluster.ts"
export * as PgDialect from "./PgDialect.ts"
export * as PgHorizon from "./PgHorizon.ts"
export * as PgMigrations from "./PgMigrations.ts"
export * as PgNotifier from "./PgNotifier.ts"
export * as PgReplica from "./PgReplica.ts"
export * as PgSchema from "./PgSchema.ts"
export * as PgStore from "./PgStore.ts"
export * as PgUrl from "./PgUrl.ts"
