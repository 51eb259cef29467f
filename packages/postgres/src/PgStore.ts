/**
 * Strata on PostgreSQL: the shared SQL store with the PostgreSQL dialect, migrations applied at
 * startup (under an advisory lock, so N processes can start at once), and one LISTEN connection per
 * store that wakes every live subscription in this process when any process commits an append.
 *
 * NOTIFY is only a wake-up, never a carrier: the payload is empty (PostgreSQL caps payloads at
 * 8000 bytes) and subscribers read the events themselves. Subscriptions also poll, so a lost
 * notification or a listener reconnect costs latency, never events.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { DocumentStore, EventStore } from "@strata/core"
import { PgDialect, SqlStore } from "@strata/sql"
import type * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"

/**
 * @category models
 * @since 0.1.0
 */
export interface PgStoreOptions {
  /** Apply pending migrations when the layer starts. Default true. */
  readonly migrate?: boolean | undefined
  readonly maxEventBytes?: number | undefined
  readonly pageSize?: number | undefined
  /** Fallback poll for live subscriptions when no notification arrives. Default 500 ms. */
  readonly pollInterval?: Duration.Input | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type PgStoreConfig = PgClient.PgPoolConfig & PgStoreOptions

/**
 * Forwards notifications on the Strata channel to the store's wake-up signal, reconnecting
 * whenever the listening connection is lost (a wake-up after each reconnect covers anything
 * committed while it was down).
 *
 * @category constructors
 * @since 0.1.0
 */
export const listen = (
  signal: PubSub.PubSub<void>
): Effect.Effect<void, never, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const session = Effect.scoped(Effect.gen(function*() {
      const notifications = yield* pg.listen(PgDialect.channel)
      yield* PubSub.publish(signal, undefined)
      yield* Stream.fromQueue(notifications).pipe(Stream.runForEach(() => PubSub.publish(signal, undefined)))
    }))
    yield* session.pipe(
      Effect.catchCause(() => Effect.void),
      Effect.repeat(Schedule.spaced("100 millis")),
      Effect.forkScoped
    )
  })

/**
 * Both stores over the PgClient in context (use this to share a client you built yourself).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromClient = (
  options: PgStoreOptions = {}
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore,
  SqlError,
  PgClient.PgClient | SqlClient.SqlClient
> =>
  SqlStore.layer({
    dialect: PgDialect.dialect,
    backend: "postgres",
    migrate: options.migrate,
    maxEventBytes: options.maxEventBytes,
    pageSize: options.pageSize,
    pollInterval: options.pollInterval ?? Duration.millis(500),
    onStart: (store) => listen(store.signal)
  })

/**
 * Both stores plus the PgClient/SqlClient they use (so consumers can write projections in the same
 * transaction as their checkpoint).
 *
 * @example
 * PgStore.layer({ url: Redacted.make(process.env.DATABASE_URL!) })
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: PgStoreConfig
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore | PgClient.PgClient | SqlClient.SqlClient,
  SqlError
> => {
  const { maxEventBytes, migrate, pageSize, pollInterval, ...client } = config
  return layerFromClient({ maxEventBytes, migrate, pageSize, pollInterval }).pipe(
    Layer.provideMerge(PgClient.layer(client))
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
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore | PgClient.PgClient | SqlClient.SqlClient,
  SqlError | Config.ConfigError
> => layerFromClient(options).pipe(Layer.provideMerge(PgClient.layerConfig(config)))
