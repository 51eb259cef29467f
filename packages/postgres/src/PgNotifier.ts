/**
 * Cross-process wake-ups over LISTEN/NOTIFY: one LISTEN connection per store that wakes every live
 * subscription in this process when any process commits an append, and one notifier that tells the
 * other processes about this process's commits.
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
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * The NOTIFY channel that wakes subscribers after appends commit, for a store without a schema (a
 * store in a schema uses `PgSchema.keys(schema).channel`, `strata_events_<schema>`).
 *
 * @category constants
 * @since 0.1.0
 */
export const channel = "strata_events"

/**
 * Forwards notifications on the Strata channel to the store's wake-up signal, reconnecting
 * whenever the listening connection is lost (a wake-up after each reconnect covers anything
 * committed while it was down). Notifications carrying `self` (this store's own, sent by
 * {@link notify}) are dropped: its subscribers were woken when the append committed. `on` is the
 * channel (default {@link channel}).
 *
 * @category constructors
 * @since 0.1.0
 */
export const listen = (
  signal: PubSub.PubSub<void>,
  self?: string,
  on: string = channel
): Effect.Effect<void, never, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const session = Effect.scoped(Effect.gen(function*() {
      const notifications = yield* pg.listen(on)
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
  options: {
    readonly self: string
    readonly interval: Duration.Input
    /** The channel; default {@link channel}. */
    readonly channel?: string | undefined
  }
): Effect.Effect<void, never, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const commits = yield* PubSub.subscribe(committed)
    yield* PubSub.take(commits).pipe(
      Effect.andThen(pg.notify(options.channel ?? channel, options.self)),
      Effect.catchCause((cause) => Effect.logDebug("strata: NOTIFY failed; subscribers elsewhere will poll", cause)),
      Effect.andThen(Effect.sleep(options.interval)),
      Effect.forever,
      Effect.forkScoped
    )
  })
