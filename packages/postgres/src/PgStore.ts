/**
 * Strata on PostgreSQL: the shared SQL store with the PostgreSQL dialect (`PgDialect`), migrations
 * applied at startup (under an advisory lock, so N processes can start at once), and `PgNotifier`'s
 * LISTEN/NOTIFY wake-ups between processes.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Health, StoreError } from "@strata/core"
import type { Otel } from "@strata/core/backend"
import { SqlStore, Startup } from "@strata/sql"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as PgDialect from "./PgDialect.ts"
import * as PgNotifier from "./PgNotifier.ts"
import * as PgReplica from "./PgReplica.ts"
import * as PgSchema from "./PgSchema.ts"

/**
 * What {@link layer} provides: the SQL store's services (`SqlStore.Services`) and the client they
 * use, so handlers can write in the same transaction as a consumer's checkpoint.
 *
 * @category models
 * @since 0.1.0
 */
export type Services = SqlStore.Services | PgClient.PgClient | SqlClient.SqlClient | Health.HorizonProbe

/**
 * @category models
 * @since 0.1.0
 */
export interface PgStoreOptions extends SqlStore.StoreOptions {
  /**
   * Under load, the longest a commit waits before a NOTIFY tells other processes about it (one
   * NOTIFY covers every commit in the interval; the first commit after a quiet one is sent at once).
   * Subscribers in this process are woken at commit regardless. Default 20 ms: each NOTIFY is a
   * statement of its own that every listening backend receives (~70-90 us of this client's CPU,
   * its own listener included), so at a few thousand appends/s 5 ms cost ~8 us per append.
   */
  readonly notifyInterval?: Duration.Input | undefined
  /**
   * The PostgreSQL schema the store lives in (see `PgSchema`): its tables, functions, sequence,
   * advisory locks and NOTIFY channel are its own, and the first start creates it. Default: none,
   * the server's `search_path` (`public`) with today's keys. {@link layer} sets every connection's
   * `search_path` to it; with {@link layerFromClient}, the client's connections must have it set
   * (`startupParameters: { search_path: "orders" }`).
   */
  readonly schema?: string | undefined
  /**
   * Hot standbys that serve reads (see `PgReplica`): each a URL (`Redacted` or plain) or a pool config;
   * a URL replica shares the store's other settings (pool size, schema). Default: none.
   */
  readonly replicas?: ReadonlyArray<Redacted.Redacted<string> | string | PgClient.PgPoolConfig> | undefined
  /**
   * Where reads go when the call does not say (`PgReplica.Consistency`). Default `"replica"` when
   * `replicas` are given: a replica read waits until the replica has replayed everything committed on
   * the primary when the read began (else the primary serves it), so it is never stale or gapped.
   */
  readonly consistency?: PgReplica.Consistency | undefined
  /** How long a replica read waits for its replica to catch up before the primary serves it. Default 2 s. */
  readonly replicaTimeout?: Duration.Input | undefined
  /**
   * The settled position for replica readers (`PgReplica.publish`) is published at most once per this
   * interval after commits. Default 20 ms.
   */
  readonly publishInterval?: Duration.Input | undefined
  /**
   * Whether this store publishes the settled position standbys' readers stop at. Default: when it has
   * `replicas` (it then publishes after its own commits and every other writer's NOTIFY, and every
   * second, so writers need not). Set it on writers when the readers are elsewhere and cannot publish.
   */
  readonly publishSettled?: boolean | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type PgStoreConfig = PgClient.PgPoolConfig & PgStoreOptions

/**
 * Both stores over the PgClient in context (use this to share a client you built yourself).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromClient = (
  options: PgStoreOptions = {}
): Layer.Layer<SqlStore.Services, SqlError | StoreError.Unsupported, PgClient.PgClient | SqlClient.SqlClient> => {
  const keys = PgSchema.keys(options.schema)
  return Layer.unwrap(Effect.map(PgClient.PgClient, (client) =>
    SqlStore.layer({
      dialect: keys.schema === undefined ? PgDialect.dialect : PgDialect.make(keys),
      backend: "postgres",
      connection: connection(client.config, keys.schema),
      ...SqlStore.splitOptions(options)[0],
      // NOTIFY wakes subscribers across processes; the poll is only the fallback.
      pollInterval: options.pollInterval ?? Duration.millis(500),
      onStart: (store) =>
        Effect.gen(function*() {
          const self = crypto.randomUUID()
          yield* PgNotifier.listen(store.signal, self, keys.channel)
          yield* PgNotifier.notify(store.committed, {
            self,
            interval: options.notifyInterval ?? Duration.millis(20),
            channel: keys.channel
          })
          // The process that reads from standbys publishes the settled position for them, woken by every
          // writer's NOTIFY and its own commits (the store's signal), and every second regardless.
          const replicas = yield* Effect.serviceOption(PgReplica.Replicas)
          const reads = replicas._tag === "Some" && replicas.value.replicas.length > 0
          if (options.publishSettled ?? reads) {
            yield* PgReplica.publish(reads ? store.signal : store.committed, {
              interval: options.publishInterval ?? Duration.millis(20),
              every: Duration.seconds(1)
            })
          }
        }),
      // Reads go to the replicas when the layer has some (PgReplica.layer, provided by `layer`).
      decorate: (store) =>
        Effect.gen(function*() {
          const replicas = yield* Effect.serviceOption(PgReplica.Replicas)
          if (replicas._tag === "None") return store
          return PgReplica.route(store, replicas.value, yield* SqlClient.SqlClient)
        })
    })))
}

// The store spans' connection attributes, from the client's config (PgStore.layer fills host, port
// and database from a URL first): `db.namespace` is `database|schema` in a schema of its own, as the
// conventions write it.
const connection = (config: PgClient.PgClientConfig, schema: string | undefined): Otel.Connection => {
  const database = config.database ?? config.username
  return {
    system: "postgresql",
    ...(config.host === undefined ? {} : { serverAddress: config.host }),
    serverPort: config.port ?? 5432,
    ...(database === undefined ? {} : { namespace: schema === undefined ? database : `${database}|${schema}` })
  }
}

/**
 * Where a config connects, for errors and logs: `postgres://USER@HOST:PORT/DATABASE`, never the password.
 *
 * @category constructors
 * @since 0.1.0
 */
export const target = (config: PgClient.PgPoolConfig): string => {
  if (config.url !== undefined) {
    try {
      const url = new URL(Redacted.value(config.url))
      return `${url.protocol}//${decodeURIComponent(url.username) || "(default user)"}@${url.hostname}:${
        url.port || "5432"
      }${url.pathname === "" || url.pathname === "/" ? "/(default database)" : url.pathname}`
    } catch {
      return "a connection URL that does not parse"
    }
  }
  return `postgres://${config.username ?? "(default user)"}@${config.host ?? "localhost"}:${config.port ?? 5432}/${
    config.database ?? "(default database)"
  }`
}

// The driver connects to what the URL says but names its spans' `server.address`, `server.port` and
// `db.namespace` from the config's fields only (localhost, 5432 and the user otherwise): fill the fields
// the caller left out from the URL, which is what the driver resolves them to anyway. A URL the
// standard parser refuses, or that names its host in the query (a socket), is left to the driver.
const withUrlFields = (config: PgClient.PgPoolConfig): PgClient.PgPoolConfig => {
  if (config.url === undefined) return config
  let url: URL
  try {
    url = new URL(Redacted.value(config.url))
  } catch {
    return config
  }
  if (url.hostname === "" || url.searchParams.has("host")) return config
  const database = decodeURIComponent(url.pathname.slice(1))
  const username = decodeURIComponent(url.username)
  return {
    ...config,
    host: config.host ?? url.hostname.replace(/^\[(.*)\]$/, "$1"),
    ...(config.port === undefined && url.port !== "" ? { port: Number(url.port) } : {}),
    ...(config.database === undefined && database !== "" ? { database } : {}),
    ...(config.username === undefined && username !== "" ? { username } : {})
  }
}

/**
 * Both stores plus the PgClient/SqlClient they use (so consumers can write projections in the same
 * transaction as their checkpoint), and the read horizon's probe for `Health.check` ({@link layerHealth}). A database that cannot be reached, logged into or migrated fails
 * the layer with `StoreError.StartupFailed`, naming host, port, database and user; set
 * `startupRetry` (e.g. `Startup.defaultRetry`) to wait for a server that is still starting. With
 * `schema`, every connection's `search_path` is that schema alone (see `PgSchema`); a name outside
 * `PgSchema.rule` fails the layer with `StartupFailed` before any connection is made. With `replicas`, reads
 * go to hot standbys (`PgReplica`), and the layer also provides `PgReplica.Replicas` (always: with no
 * replicas its `waitFor` succeeds at once).
 *
 * @example
 * ```ts
 * import { PgStore } from "@strata/postgres"
 * import { Redacted } from "effect"
 *
 * const StoreLive = PgStore.layer({ url: Redacted.make("postgres://app@localhost:5432/app") })
 *
 * // The orders context's store, in a schema of its own in the same database.
 * const OrdersLive = PgStore.layer({ url: Redacted.make("postgres://app@localhost:5432/app"), schema: "orders" })
 *
 * // Reads served by a hot standby, never stale (see PgReplica); writes on the primary.
 * const ReplicatedLive = PgStore.layer({
 *   url: Redacted.make("postgres://app@primary:5432/app"),
 *   replicas: [Redacted.make("postgres://app@standby:5432/app")]
 * })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: PgStoreConfig
): Layer.Layer<Services | PgReplica.Replicas, StoreError.StartupFailed | StoreError.Unsupported> => {
  const [options, {
    consistency,
    notifyInterval,
    publishInterval,
    publishSettled,
    replicaTimeout,
    replicas,
    schema,
    ...given
  }] = SqlStore.splitOptions(config)
  const client = withUrlFields(given)
  const where = schema === undefined ? target(client) : `${target(client)} (schema ${schema})`
  if (schema !== undefined) {
    const broken = PgSchema.check(schema)
    if (broken !== undefined) {
      return Layer.unwrap<Services | PgReplica.Replicas, never, never, StoreError.StartupFailed, never>(Effect.fail(
        new StoreError.StartupFailed({
          backend: "postgres",
          target: target(client),
          problem: `the schema name ${JSON.stringify(schema.slice(0, 80))} is refused`,
          hint: `${broken[0].toUpperCase()}${broken.slice(1)}.`
        })
      ))
    }
  }
  const inSchema = (pool: PgClient.PgPoolConfig): PgClient.PgPoolConfig =>
    schema === undefined ? pool : {
      ...pool,
      startupParameters: { ...pool.startupParameters, search_path: PgSchema.quote(schema) }
    }
  const connect = inSchema(client)
  // A URL replica shares the store's settings but its address and credentials.
  const { database: _d, host: _h, password: _p, port: _o, url: _u, username: _n, ...shared } = given
  const replicaPools = (replicas ?? []).map((replica) =>
    inSchema(
      withUrlFields(
        typeof replica === "string"
          ? { ...shared, url: Redacted.make(replica) }
          : Redacted.isRedacted(replica)
          ? { ...shared, url: replica as Redacted.Redacted<string> }
          : { ...shared, ...(replica as PgClient.PgPoolConfig) }
      )
    )
  )
  const keys = PgSchema.keys(schema)
  const replicaLayer = PgReplica.layer({
    replicas: replicaPools,
    dialect: keys.schema === undefined ? PgDialect.dialect : PgDialect.make(keys),
    consistency,
    timeout: replicaTimeout,
    pageSize: options.pageSize,
    maxEventBytes: options.maxEventBytes
  })
  return Startup.guard(
    Layer.merge(layerFromClient({ ...options, notifyInterval, publishInterval, publishSettled, schema }), layerHealth)
      .pipe(
        Layer.provideMerge(replicaLayer),
        Layer.provideMerge(PgClient.layer(connect))
      ),
    { backend: "postgres", target: where, explain: PgDialect.dialect.explainStartup }
  )
}

/**
 * {@link layer} from Config, e.g. `PgStore.layerConfig({ url: Config.Redacted("DATABASE_URL") })`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<PgClient.PgPoolConfig>,
  options: PgStoreOptions = {}
): Layer.Layer<Services | PgReplica.Replicas, StoreError.StartupFailed | StoreError.Unsupported | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(config), (client) => layer({ ...client, ...options })))

/**
 * The read horizon's probe for `Health.check` (see `PgHorizon`): where global readers stop, whether an
 * append in flight holds them back, and for how long: the age of the transaction that holds the lowest
 * announcement (`pg_stat_activity.xact_start`), so the figure does not depend on a reader polling.
 * {@link layer} provides it; add it yourself next to {@link layerFromClient}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerHealth: Layer.Layer<Health.HorizonProbe, never, SqlClient.SqlClient> = Layer.effect(
  Health.HorizonProbe,
  Effect.map(SqlClient.SqlClient, (sql) =>
    Health.HorizonProbe.of({
      read: Effect.gen(function*() {
        const [row] = yield* sql<{ settled: bigint | number; pending: boolean; held: number | string | null }>`
SELECT h.settled, h.pending,
  (SELECT extract(epoch FROM clock_timestamp() - a.xact_start)::float8
   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND (l.classid::bigint >> 16) = strata_lock_space()
   ORDER BY ((l.classid::bigint << 32) | l.objid::bigint) & 281474976710655
   LIMIT 1) AS held
FROM strata_horizon() h`
        return {
          settled: BigInt(row.settled),
          pending: row.pending,
          heldSeconds: row.pending && row.held !== null ? Math.max(0, Number(row.held)) : 0
        }
      }).pipe(
        Effect.catchTag("SqlError", (error) =>
          Effect.fail(
            new StoreError.StoreUnavailable({ operation: "Health.horizon", reason: error.reason._tag, cause: error })
          )),
        Effect.withSpan("PgStore.horizon")
      )
    }))
)
