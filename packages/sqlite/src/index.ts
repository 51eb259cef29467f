/**
 * @strata/sqlite: Strata on SQLite via the built-in `node:sqlite`, the embedded default.
 *
 * @module @strata/sqlite
 * @since 0.1.0
 */
export * as SqliteAppend from "./SqliteAppend.ts"
export * as SqliteClient from "./SqliteClient.ts"
export * as SqliteStore from "./SqliteStore.ts"
export * as SqliteUrl from "./SqliteUrl.ts"
