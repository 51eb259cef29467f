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
 * Any change here needs the gap-free tests in `packages/postgres/test` and an upgrade note.
 *
 * @since 0.1.0
 */
import type { Horizon } from "@strata/sql/Dialect"
import * as Effect from "effect/Effect"
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
 * Reads the horizon: every position below `settled` is committed or abandoned.
 *
 * @category constructors
 * @since 0.1.0
 */
export const read = (sql: SqlClient.SqlClient): Effect.Effect<Horizon, SqlError> =>
  Effect.map(
    sql<{ settled: bigint | number; pending: boolean }>`SELECT settled, pending FROM strata_horizon()`,
    ([row]): Horizon => ({ settled: BigInt(row.settled), pending: row.pending })
  )
