/**
 * The PostgreSQL protocol that keeps the global log gap-free while appends commit concurrently.
 *
 * Why: a position from a sequence is taken at INSERT but becomes visible at COMMIT, so concurrent
 * appenders commit out of position order, and a reader paging by `position > cursor` would skip the
 * late committer forever. So before it takes a position, an append announces itself
 * ({@link announcement}): a transaction-scoped shared advisory lock whose key carries the first
 * position the sequence has not handed out (a lower bound of every position the append will take),
 * held until it commits or rolls back. A reader reads the sequence, then the announced keys in
 * `pg_locks`, in that order (`strata_horizon()`, see `PgMigrations`): every position below
 * min(first unissued, smallest key) is committed or abandoned, and it reads only those, in a later
 * statement. An append that announces after the sequence was read takes a position above it; one
 * that announced before is either still in `pg_locks` or already visible.
 *
 * Only appends in flight hold readers back: a transaction that never appends (any other work on
 * the server, however long) takes no such lock. A transaction that wrote elsewhere before it
 * appends is no different, since positions come from the sequence after the announcement, not from
 * transaction ids. Appends take no exclusive lock, so their commits share WAL flushes.
 *
 * **Held horizon.** An append in flight that idles (a unit of work waiting on a slow call) holds every
 * global reader below its position until it ends (`UnitOfWork.Timeout` bounds it, default 30 s).
 * {@link read} measures it from the answers it already gets, with no extra query: while `pending`
 * stays true at the same `settled`, the same append holds readers back, since the first read that saw
 * it (so to within one poll interval). Each read sets the gauge `strata_horizon_held_seconds`
 * (`Metrics.horizonHeldSeconds`; 0 when nothing holds), and a stall longer than {@link HeldWarning}
 * (default 5 s) logs one warning naming how long so far, then one info line with the total when it
 * ends.
 *
 * Any change here needs the gap-free tests in `packages/postgres/test` and an upgrade note.
 *
 * @since 0.1.0
 */
import { Metrics } from "@strata/core"
import type { Horizon } from "@strata/sql/Dialect"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/**
 * The first position the sequence has not handed out yet (its start value while it is unused), as SQL
 * over `strata_events_position_seq`.
 *
 * @category constants
 * @since 0.1.0
 */
export const firstUnissued = "CASE WHEN is_called THEN last_value + 1 ELSE last_value END"

/**
 * The advisory-lock key a PostgreSQL append announces itself with before it takes a position (see
 * the module doc): the lock space in the top bits, the first position not yet handed out in the low 48.
 * Migration 4 caps positions below 2^48, so the position never spills into the lock space.
 *
 * @category constants
 * @since 0.1.0
 */
export const announcementKey = `(strata_lock_space() << 48) | (SELECT ${firstUnissued} FROM strata_events_position_seq)`

/**
 * The announcement, as a SQL expression, written inline rather than by calling
 * `strata_announce()`: the plpgsql call costs the server ~12% of an append. Migrations 3 and 4 keep
 * the function for processes on older versions; both take the same key.
 *
 * @category constants
 * @since 0.1.0
 */
export const announcement = `pg_advisory_xact_lock_shared(${announcementKey})`

/**
 * Announces an append, inside its transaction, before any position is drawn.
 *
 * @category constructors
 * @since 0.1.0
 */
export const announce = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql`SELECT ${sql.literal(announcement)}`)

/**
 * How long readers may be held below positions already handed out before {@link read} logs a
 * warning (once per stall). Default 5 seconds: far above a normal append's time in flight
 * (milliseconds), well under `UnitOfWork.Timeout`'s default 30 s.
 *
 * @category references
 * @since 0.1.0
 */
export const HeldWarning: Context.Reference<Duration.Input> = Context.Reference<Duration.Input>(
  "@strata/postgres/PgHorizon/HeldWarning",
  { defaultValue: () => "5 seconds" }
)

/**
 * Reads the horizon: every position below `settled` is committed or abandoned. The effect keeps,
 * across its runs, how long the same append in flight has held it (see the module doc): readers
 * build it once per store and run it for each horizon they take.
 *
 * @category constructors
 * @since 0.1.0
 */
export const read = (sql: SqlClient.SqlClient): Effect.Effect<Horizon, SqlError> => {
  let stall: { readonly settled: bigint; readonly since: number; warned: boolean } | undefined
  const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`
  return Effect.gen(function*() {
    const [row] = yield* sql<
      { settled: bigint | number; pending: boolean }
    >`SELECT settled, pending FROM strata_horizon()`
    const horizon: Horizon = { settled: BigInt(row.settled), pending: row.pending }
    const now = yield* Clock.currentTimeMillis
    let held = 0
    if (stall !== undefined && (!horizon.pending || stall.settled !== horizon.settled)) {
      if (stall.warned) {
        yield* Effect.logInfo(
          `strata: global readers were held back for ${
            seconds(now - stall.since)
          } by an append in flight below position ${stall.settled}; it has ended`
        )
      }
      stall = undefined
    }
    if (horizon.pending) {
      if (stall === undefined) stall = { settled: horizon.settled, since: now, warned: false }
      held = now - stall.since
      if (!stall.warned && held >= Duration.toMillis(yield* Effect.service(HeldWarning))) {
        stall.warned = true
        yield* Effect.logWarning(
          `strata: global readers (subscribeAll, readAll, consumers) have been held back for ${
            seconds(held)
          } by an append in flight below position ${horizon.settled} (a unit of work that idles?); keep units of work short (UnitOfWork.Timeout bounds them)`
        )
      }
    }
    yield* Metric.update(Metrics.horizonHeldSeconds, held / 1000)
    return horizon
  })
}
