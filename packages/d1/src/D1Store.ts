/**
 * Strata on Cloudflare D1: the shared SQL store with the D1 dialect. Appends, multi-stream appends
 * and document writes that carry events are each one atomic D1 batch; every other write is a single
 * guarded statement. Live subscriptions wake for appends made through the same store (the same
 * Worker isolate) and poll for the rest.
 *
 * @since 0.1.0
 */
import * as D1Client from "@effect/sql-d1/D1Client"
import type { StoreError } from "@strata/core"
import { Otel } from "@strata/core/backend"
import { SqliteDialect, SqlStore, Startup } from "@strata/sql"
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as D1Dialect from "./D1Dialect.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface D1StoreOptions extends SqlStore.StoreOptions {
  /**
   * Apply pending migrations when the layer starts. Default true. Set false when you apply
   * `migrations/sqlite` with `wrangler d1 migrations apply` (both record themselves in
   * `strata_migrations`, so mixing the two is also safe).
   */
  readonly migrate?: boolean | undefined
  /**
   * The D1 database's name (or the binding's, e.g. `"DB"`), for `db.namespace` on the store's spans;
   * `D1Store.layer` also puts it on the driver's statement spans (the client's `spanAttributes`; with
   * `layerFromClient`, give the client that attribute yourself). A binding does not tell its
   * name, so without this option the spans carry `db.system.name` (`sqlite`) only.
   */
  readonly database?: string | undefined
}

type D1Database = D1Client.D1ClientConfig["db"]
type D1PreparedStatement = ReturnType<D1Database["prepare"]>

/**
 * Wraps a D1 binding so it accepts what Strata binds: D1 rejects `bigint` parameters, so versions and
 * positions are bound as numbers (exact up to 2^53, D1's own integer limit in JavaScript), and
 * booleans as 0/1.
 *
 * @category constructors
 * @since 0.1.0
 */
export const bindable = (db: D1Database): D1Database => {
  const convert = (value: unknown): unknown => {
    if (typeof value === "bigint") {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new RangeError(`D1 cannot bind ${value}: integers beyond 2^53 are not representable`)
      }
      return Number(value)
    }
    return typeof value === "boolean" ? (value ? 1 : 0) : value
  }
  const wrapStatement = (statement: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(statement, {
      get: (target, property, receiver) =>
        property === "bind"
          ? (...values: Array<unknown>) => target.bind(...values.map(convert))
          : Reflect.get(target, property, receiver)
    })
  return new Proxy(db, {
    get: (target, property, receiver) =>
      property === "prepare"
        ? (query: string) => wrapStatement(target.prepare(query))
        : Reflect.get(target, property, receiver)
  })
}

/**
 * Every service of a store over the D1Client in context. Build that client on {@link bindable}`(db)`
 * (as {@link layer} does): D1 rejects bigint parameters. Inline projections are refused with
 * `Unsupported` (a batch cannot read the documents they would update). The store's spans carry
 * `db.system.name: "sqlite"` and, given `database`, `db.namespace`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromClient = (
  options: D1StoreOptions = {}
): Layer.Layer<
  SqlStore.Services,
  SqlError | StoreError.Unsupported,
  D1Client.D1Client | SqlClient.SqlClient
> =>
  Layer.unwrap(
    Effect.map(D1Client.D1Client, (client) => {
      const { database, ...rest } = options
      return SqlStore.layer({
        dialect: D1Dialect.make(client),
        backend: "d1",
        connection: { system: "sqlite", ...(database === undefined ? {} : { namespace: database }) },
        ...rest
      })
    })
  )

/**
 * Both stores on a D1 binding, plus the client they use. With `database`, the store's spans and the
 * driver's statement spans carry it as `db.namespace`.
 *
 * @example
 * // in a Worker: export default { fetch: (request, env) => program.pipe(Effect.provide(D1Store.layer({ db: env.DB }))) }
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: D1Client.D1ClientConfig & D1StoreOptions
): Layer.Layer<
  SqlStore.Services | D1Client.D1Client | SqlClient.SqlClient,
  StoreError.StartupFailed | StoreError.Unsupported | Config.ConfigError
> => {
  const { database, ...rest } = config
  const [options, client] = SqlStore.splitOptions(rest)
  const spanAttributes = database === undefined
    ? client.spanAttributes
    : { [Otel.Attr.dbNamespace]: database, ...client.spanAttributes }
  return Startup.guard(
    layerFromClient({ ...options, database }).pipe(Layer.provideMerge(D1Client.layer({
      ...client,
      db: bindable(client.db),
      ...(spanAttributes === undefined ? {} : { spanAttributes })
    }))),
    { backend: "d1", target: "the D1 binding", explain: SqliteDialect.dialect.explainStartup }
  )
}
