/**
 * Strata on PostgreSQL: the shared SQL store with the PostgreSQL dialect, migrations applied at
 * startup (under an advisory lock, so N processes can start at once), one LISTEN connection per
 * store that wakes every live subscription in this process when any process commits an append, and
 * one notifier that tells the other processes about this process's commits.
 *
 * NOTIFY is only a wake-up, never a carrier: the payload is empty (PostgreSQL caps payloads at
 * 8000 bytes) and subscribers read the events themselves. It is sent after the append commits, not
 * inside it (a notifying transaction holds a database-wide lock through its commit, which would
 * serialise appends), coalesced: one NOTIFY in flight at a time covers every commit before it.
 * Subscriptions also poll, so a lost notification or a listener reconnect costs latency, never events.
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
  /**
   * Under load, the longest a commit waits before a NOTIFY tells other processes about it (one
   * NOTIFY covers every commit in the interval; the first commit after a quiet one is sent at once).
   * Subscribers in this process are woken at commit regardless. Default 5 ms.
   */
  readonly notifyInterval?: Duration.Input | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type PgStoreConfig = PgClient.PgPoolConfig & PgStoreOptions

/**
 * Forwards notifications on the Strata channel to the store's wake-up signal, reconnecting
 * whenever the listening connection is lost (a wake-up after each reconnect covers anything
 * committed while it was down). Notifications carrying `self` (this store's own, sent by
 * {@link notify}) are dropped: its subscribers were woken when the append committed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const listen = (
  signal: PubSub.PubSub<void>,
  self?: string
): Effect.Effect<void, never, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const session = Effect.scoped(Effect.gen(function*() {
      const notifications = yield* pg.listen(PgDialect.channel)
      yield* PubSub.publish(signal, undefined)
      yield* Stream.fromQueue(notifications).pipe(
        Stream.runForEach((notification) =>
          notification.payload === self ? Effect.void : PubSub.publish(signal, undefined)
        )
      )
    }))
    yield* session.pipe(
      Effect.catchCause(() => Effect.void),
      Effect.repeat(Schedule.spaced("100 millis")),
      Effect.forkScoped
    )
  })

/**
 * Tells other processes about commits published to `committed`: one NOTIFY (payload `self`) from
 * its own statement, not the append's transaction. The first commit after a quiet period is
 * announced at once; commits during the following `interval` share one NOTIFY at its end, so a
 * busy store sends at most one per interval. A failed NOTIFY is dropped: other processes poll.
 *
 * @category constructors
 * @since 0.1.0
 */
export const notify = (
  committed: PubSub.PubSub<void>,
  options: { readonly self: string; readonly interval: Duration.Input }
): Effect.Effect<void, never, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const commits = yield* PubSub.subscribe(committed)
    yield* PubSub.take(commits).pipe(
      Effect.andThen(pg.notify(PgDialect.channel, options.self)),
      Effect.catchCause((cause) => Effect.logDebug("strata: NOTIFY failed; subscribers elsewhere will poll", cause)),
      Effect.andThen(Effect.sleep(options.interval)),
      Effect.forever,
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
    onStart: (store) =>
      Effect.gen(function*() {
        const self = crypto.randomUUID()
        yield* listen(store.signal, self)
        yield* notify(store.committed, { self, interval: options.notifyInterval ?? Duration.millis(5) })
      })
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
  const { maxEventBytes, migrate, notifyInterval, pageSize, pollInterval, ...client } = config
  return layerFromClient({ maxEventBytes, migrate, notifyInterval, pageSize, pollInterval }).pipe(
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
