// A DCB query read as one array: the read of a `Dcb.decide` decision (`Backend.readQuery`), with no
// Stream between the statements and the caller. Gap-free as `readAll({ query })` (reads.ts): the
// horizon first, in an earlier statement, then pages cut below it. A page is the UNION of one
// index-ordered subquery per item (`DcbSql.positions`, positions bound, so the text repeats and
// stays prepared); a short page ends the read, so a decision whose events fit one page costs one
// statement where there is no horizon (SQLite, D1) and two on PostgreSQL.
//
// Why not one statement on PostgreSQL: a statement reads with the snapshot taken when it starts,
// and the horizon reads live state (the sequence, pg_locks) after that. An append that commits in
// between is neither in the snapshot nor in pg_locks any more, so a fused statement could return a
// later event without it (a gap a decision would fold past). Fusing needs the rows read with a
// snapshot taken after the horizon: a VOLATILE server function (as strata_dcb_conflict does for
// the append's check), which is a migration.
import type { Event, EventStore, StoreError } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as DcbSql from "../DcbSql.ts"
import type { Horizon } from "../Dialect.ts"
import { columnsOf } from "../Rows.ts"
import type { StoreContext } from "./context.ts"
import { horizonOf } from "./reads.ts"

export const make = (ctx: StoreContext) => {
  const { dialect, events, pageSize, sql, unavailable } = ctx
  const columns = sql.literal(columnsOf(dialect))
  const limit = sql.literal(`LIMIT ${pageSize}`)
  // The store's one horizon, shared with the global reads (reads.ts).
  const horizon = horizonOf(ctx)
  const pastHead = Effect.map(
    sql<{ head: bigint | number | null }>`SELECT max(position) AS head FROM strata_events`,
    (found) => BigInt(found[0]?.head ?? 0) + 1n
  )

  // As reads.ts: a decision must see its own writer's last append, which an append in flight below
  // it can hold the horizon back from; wait (briefly) until the horizon passes the head seen first.
  const bound = (take: NonNullable<typeof horizon>) =>
    Effect.gen(function*() {
      let found: Horizon = yield* take
      if (!found.pending) return found
      const head = yield* pastHead
      for (let waited = 0; found.settled < head && waited < 200; waited++) {
        yield* Effect.sleep("1 millis")
        found = yield* take
      }
      return found
    })

  const page = (query: EventStore.Query, cursor: bigint | undefined, below: bigint | undefined) => {
    const matching = DcbSql.positions(sql, query, { forwards: true, cursor, below, want: pageSize })
    return matching === undefined
      ? Effect.succeed<Array<Event.RecordedEvent>>([])
      : events(sql`SELECT ${columns} FROM strata_events WHERE position IN (${matching})
          ORDER BY position ASC ${limit}`)
  }

  return (
    query: EventStore.Query
  ): Effect.Effect<Array<Event.RecordedEvent>, StoreError.InvalidArgument | StoreError.StoreUnavailable> =>
    Effect.flatMap(Inputs.query("readAll", "query", query), (checked) =>
      Effect.gen(function*() {
        const below = horizon === undefined ? undefined : (yield* bound(horizon)).settled
        const found = yield* page(checked, undefined, below)
        if (found.length < pageSize) return found
        while (true) {
          const next = yield* page(checked, found[found.length - 1].position + 1n, below)
          for (const event of next) found.push(event)
          if (next.length < pageSize) return found
        }
      }).pipe(Effect.catchTag("SqlError", unavailable("readAll"))))
}
