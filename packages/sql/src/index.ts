/**
 * @strata/sql: the one SQL implementation of Strata's EventStore and DocumentStore, with a Dialect
 * seam; the SQLite dialect (shared by the embedded backend and D1) and the migration runner.
 *
 * @module @strata/sql
 * @since 0.1.0
 */
export * as DcbSql from "./DcbSql.ts"
export * as Dialect from "./Dialect.ts"
export * as DocumentSql from "./DocumentSql.ts"
export * as Leases from "./Leases.ts"
export * as Migrator from "./Migrator.ts"
export * as Rows from "./Rows.ts"
export * as SqlAdmin from "./SqlAdmin.ts"
export * as SqlErrorText from "./SqlErrorText.ts"
export * as SqliteDialect from "./SqliteDialect.ts"
export * as SqliteMigrations from "./SqliteMigrations.ts"
export * as SqlJobs from "./SqlJobs.ts"
export * as SqlParkedEvents from "./SqlParkedEvents.ts"
export * as SqlStore from "./SqlStore.ts"
export * as Startup from "./Startup.ts"
export * as StreamGuard from "./StreamGuard.ts"
