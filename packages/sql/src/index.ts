/**
 * @strata/sql: the one SQL implementation of Strata's EventStore and DocumentStore, with a Dialect
 * seam for PostgreSQL, SQLite and D1.
 *
 * @module @strata/sql
 * @since 0.1.0
 */
export * as Dialect from "./Dialect.ts"
export * as Migrations from "./Migrations.ts"
export * as PgDialect from "./PgDialect.ts"
export * as SqliteDialect from "./SqliteDialect.ts"
export * as SqlStore from "./SqlStore.ts"
export * as StreamGuard from "./StreamGuard.ts"
