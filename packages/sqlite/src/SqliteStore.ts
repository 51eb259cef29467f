/**
 * Strata on SQLite, the embedded default: the shared SQL store with the SQLite dialect over
 * Strata's own `node:sqlite` client. Files use WAL, so readers never block the writer; live
 * subscriptions wake at once for appends made through this store and poll for appends made by
 * other processes on the same file.
 *
 * @since 0.1.0
 */
import type { StoreError } from "@strata/core"
import { SqliteDialect, SqlStore, Startup } from "@strata/sql"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as SqliteAppend from "./SqliteAppend.ts"
import * as SqliteClient from "./SqliteClient.ts"

/**
 * What {@link layer} provides: the SQL store's services (`SqlStore.Services`) and the client they
 * use, so handlers can write in the same transaction as a consumer's checkpoint.
 *
 * @category models
 * @since 0.1.0
 */
export type Services = SqlStore.Services | SqliteClient.SqliteClient | SqlClient.SqlClient

/**
 * @category models
 * @since 0.1.0
 */
export interface SqliteStoreOptions extends SqlStore.StoreOptions {}

/**
 * Both stores over the SqlClient in context (a SQLite one; when it is a {@link SqliteClient.SqliteClient},
 * single-stream appends use its synchronous write path, see `SqliteAppend`). Give that client `safeIntegers: true`
 * (as {@link layer} does): positions and versions are 64-bit, and a plain-number client fails on
 * values above 2^53 rather than round them.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromClient = (
  options: SqliteStoreOptions = {}
): Layer.Layer<SqlStore.Services, SqlError | StoreError.Unsupported, SqlClient.SqlClient> =>
  Layer.unwrap(Effect.map(SqlClient.SqlClient, (client) =>
    SqlStore.layer({
      // Over our own client, single-stream appends take its synchronous write path (SqliteAppend),
      // and so do those that inline projections act on (they run in the same write).
      dialect: SqliteClient.isSqliteClient(client)
        ? SqliteAppend.dialect(SqliteDialect.dialect, client)
        : SqliteDialect.dialect,
      ...(SqliteClient.isSqliteClient(client) ? { syncAppend: SqliteAppend.appendSync(client) } : {}),
      backend: "sqlite",
      // The spans' db.namespace: the database file as given (":memory:" for an in-memory one).
      ...(SqliteClient.isSqliteClient(client)
        ? { connection: { system: "sqlite", namespace: client.config.filename } }
        : {}),
      ...options
    })))

/**
 * Both stores on a SQLite file (or `":memory:"`), plus the client they use. The client reads
 * INTEGER columns as `bigint` (`safeIntegers: true`) unless told otherwise.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "@strata/sqlite"
 *
 * SqliteStore.layer({ filename: "app.db" })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: SqliteClient.SqliteClientConfig & SqliteStoreOptions
): Layer.Layer<Services, StoreError.StartupFailed | StoreError.Unsupported> => {
  const [options, client] = SqlStore.splitOptions(config)
  return Startup.guard(
    layerFromClient(options).pipe(Layer.provideMerge(SqliteClient.layer({ safeIntegers: true, ...client }))),
    { backend: "sqlite", target: `the file ${client.filename}`, explain: SqliteDialect.dialect.explainStartup }
  )
}

/**
 * {@link layer} from Config, e.g. `SqliteStore.layerConfig({ filename: Config.String("STRATA_SQLITE_FILE") })`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<SqliteClient.SqliteClientConfig>,
  options: SqliteStoreOptions = {}
): Layer.Layer<Services, StoreError.StartupFailed | StoreError.Unsupported | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(config), (client) => layer({ ...client, ...options })))
