// Stream reads, global reads and both subscriptions. Global reads stop below the dialect's horizon
// where it has one (PostgreSQL), taken in an earlier statement than the read; elsewhere visible
// order is commit order.
import { type Event, type EventStore, type StoreError, StreamName } from "@strata/core"
import { Inputs, LiveFeed, Subscription } from "@strata/core/backend"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import type { SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as Dcb from "../DcbSql.ts"
import type { Horizon } from "../Dialect.ts"
import { columnsOf } from "../Rows.ts"
import * as StreamGuard from "../StreamGuard.ts"
import type { StoreContext } from "./context.ts"
import type { StreamRows } from "./streams.ts"

// One horizon per store: the dialect's makes a tracker per call (PostgreSQL's stall warning and its
// `strata_horizon_held_seconds` gauge), so the global reads and the DCB query read (dcbRead.ts)
// share the one made for the store's context.
const horizons = new WeakMap<StoreContext, Effect.Effect<Horizon, SqlError>>()

/**
 * The store's read horizon (absent where the dialect has none), made once per store context.
 */
export const horizonOf = (ctx: StoreContext): Effect.Effect<Horizon, SqlError> | undefined => {
  if (ctx.dialect.horizon === undefined) return undefined
  let horizon = horizons.get(ctx)
  if (horizon === undefined) {
    horizon = ctx.dialect.horizon(ctx.sql)
    horizons.set(ctx, horizon)
  }
  return horizon
}

export const make = (ctx: StoreContext, rows: StreamRows) => {
  const { bigintInput, dialect, events, pageSize, pollInterval, sql, unavailable } = ctx
  const columns = sql.literal(columnsOf(dialect))

  const notTooOld = (minTime: number | undefined) =>
    minTime === undefined ? sql.literal("1 = 1") : sql`created_at >= ${dialect.time(minTime)}`

  const read: EventStore.EventStoreShape["read"] = (stream, readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("read", readOptions, bigintInput)
      yield* StreamName.make(stream)
      const visible = yield* rows.window(stream).pipe(Effect.catchTag("SqlError", unavailable("read")))
      if (visible.lastVersion === undefined) return Stream.empty
      const forwards = direction === "forwards"
      return Subscription.paged({
        initial: from ?? (forwards ? visible.first : visible.lastVersion),
        pageSize,
        limit,
        readPage: (cursor: bigint, want: number) =>
          Effect.gen(function*() {
            const start = cursor < visible.first ? visible.first : cursor
            if (!forwards && cursor < visible.first) return [[], cursor] as const
            const page = yield* events(
              forwards
                ? sql`SELECT ${columns} FROM strata_events WHERE stream = ${stream}
                  AND version >= ${start} AND ${notTooOld(visible.minTime)} ORDER BY version ASC LIMIT ${want}`
                : sql`SELECT ${columns} FROM strata_events WHERE stream = ${stream}
                  AND version <= ${cursor} AND version >= ${visible.first} AND ${
                  notTooOld(visible.minTime)
                } ORDER BY version DESC LIMIT ${want}`
            )
            const last = page[page.length - 1]
            return [page, last === undefined ? cursor : last.version + (forwards ? 1n : -1n)] as const
          }).pipe(Effect.catchTag("SqlError", unavailable("read")))
      })
    }))

  // A filter's values travel as ONE parameter (a PostgreSQL array, a JSON array for SQLite and D1),
  // so a filter of any size fits under every database's parameter limit (D1: 100 per statement).
  // `scan` (SQLite and D1, a dense window): a list is written `+column IN (...)`, which no index can
  // serve, so SQLite reads the window by position, already in order (see `windowed`).
  const oneOf = (column: string, values: ReadonlyArray<string>, scan = false): Statement.Fragment =>
    sql.onDialectOrElse({
      pg: () => sql`${sql.literal(column)} = ANY(${values}::text[])`,
      // One value as equality: SQLite then walks the (type, position) index in order; a json_each list
      // reads the same rows but sorts each window in a temporary B-tree (~1.25 against ~0.8 us a row).
      orElse: () =>
        values.length === 1
          ? sql`${sql.literal(column)} = ${values[0]}`
          : sql`${sql.literal(scan ? `+${column}` : column)} IN (SELECT value FROM json_each(${
            JSON.stringify(values)
          }))`
    })
  const startsWithOneOf = (values: ReadonlyArray<string>): Statement.Fragment =>
    sql.onDialectOrElse({
      pg: () =>
        sql`EXISTS (SELECT 1 FROM unnest(${values}::text[]) AS p (prefix)
        WHERE substr(stream, 1, length(p.prefix)) = p.prefix)`,
      orElse: () =>
        sql`EXISTS (SELECT 1 FROM json_each(${JSON.stringify(values)})
        WHERE substr(stream, 1, length(value)) = value)`
    })

  const filterSql = (filter: EventStore.EventFilter | undefined, scan = false): Statement.Fragment => {
    const clauses: Array<Statement.Fragment> = []
    const nothing = sql.literal("1 = 0")
    if (filter?.types !== undefined) {
      clauses.push(filter.types.length === 0 ? nothing : oneOf("type", filter.types, scan))
    }
    if (filter?.categories !== undefined) {
      clauses.push(filter.categories.length === 0 ? nothing : oneOf("category", filter.categories, scan))
    }
    if (filter?.streamPrefixes !== undefined) {
      clauses.push(filter.streamPrefixes.length === 0 ? nothing : startsWithOneOf(filter.streamPrefixes))
    }
    // Validated integers (Inputs.filter), so inlined: one plan per partition, no parameter types.
    const partition = filter?.partition
    if (partition !== undefined && partition.count > 1) {
      const { count, index } = partition
      if (!Number.isSafeInteger(count) || !Number.isSafeInteger(index)) return nothing
      clauses.push(sql.literal(`stream_hash % ${count} = ${index}`))
    }
    return clauses.length === 0 ? sql.literal("1 = 1") : sql.and(clauses)
  }

  const horizon: Effect.Effect<Horizon | undefined, SqlError> = horizonOf(ctx) ?? Effect.succeed(undefined)
  const below = (bound: Horizon | undefined): Statement.Fragment =>
    bound === undefined ? sql.literal("1 = 1") : sql`position < ${bound.settled}`

  // A filtered page reads a bounded position window per statement. The planners otherwise sort
  // every later match for each page: PostgreSQL right after a bulk load (no statistics yet: it
  // guesses a handful of matches; issue 23: a 1,000,000-event rebuild 128 s instead of 10.8 s),
  // SQLite always for a type or category list (`IN (json_each)` on the (type, position) index
  // gives no position order). Within a window any plan sorts at most the window. It widens 4x
  // while matches are sparse and narrows to about two pages of positions once a page fills: one
  // statement per page for a dense filter, a few more (geometric) for a rare one. `end` is the
  // horizon, or the head when the read started where there is none (`open`: the last window has
  // no upper bound, so events appended during the read are still read, as before).
  // Just past the last stored position, where there is no horizon to stop at.
  const pastHead = sql<{ head: bigint | number | null }>`SELECT max(position) AS head FROM strata_events`.pipe(
    Effect.map((found) => BigInt(found[0]?.head ?? 0) + 1n)
  )
  // Once a window has narrowed to at most `denseSpan` pages of positions (at least half of them
  // match), SQLite reads it through `scanned`: by position, in order, no sort (through node:sqlite,
  // 100,000 events, 90% matching: 0.70 against 1.30 us a row). A sparse filter keeps `where` and its
  // index: scanning 1% matches costs 9.7 us a match against 1.1-1.6. The windows are the same.
  const denseSpan = BigInt(pageSize) * 4n
  const windowed = (
    forwards: boolean,
    where: Statement.Fragment,
    scanned: Statement.Fragment,
    end: bigint,
    open: boolean
  ) => {
    const span = { value: BigInt(pageSize) * 4n, adapted: false }
    const page = (lo: bigint, hi: bigint | undefined, want: number) =>
      events(sql`SELECT ${columns} FROM strata_events
        WHERE position >= ${lo} AND ${hi === undefined ? sql.literal("1 = 1") : sql`position < ${hi}`} AND ${
        span.adapted && span.value <= denseSpan ? scanned : where
      }
        ORDER BY position ${sql.literal(forwards ? "ASC" : "DESC")} LIMIT ${want}`)
    const adapt = (edge: bigint, last: Event.RecordedEvent) => {
      const covered = 2n * ((forwards ? last.position - edge : edge - last.position) + 1n)
      span.value = covered > BigInt(pageSize) ? covered : BigInt(pageSize)
      span.adapted = true
    }
    return (cursor: bigint | undefined, want: number) =>
      Effect.gen(function*() {
        const found: Array<Event.RecordedEvent> = []
        if (want <= 0) return found
        const take = (rows: ReadonlyArray<Event.RecordedEvent>) => {
          found.push(...rows)
          return found.length >= want
        }
        if (forwards) {
          let lo = cursor ?? 0n
          const edge = lo
          while (true) {
            const far = lo + span.value
            const hi = far < end ? far : open ? undefined : end
            if (hi !== undefined && lo >= hi) break
            if (take(yield* page(lo, hi, want - found.length))) {
              adapt(edge, found[found.length - 1]!)
              break
            }
            if (hi === undefined || hi >= end) break
            span.value *= 4n
            lo = hi
          }
        } else {
          let hi = cursor === undefined || cursor >= end ? (open ? undefined : end) : cursor + 1n
          const edge = hi ?? end
          while (true) {
            const top = hi ?? end
            const lo = top > span.value ? top - span.value : 0n
            if (hi !== undefined && lo >= hi) break
            if (take(yield* page(lo, hi, want - found.length))) {
              adapt(edge, found[found.length - 1]!)
              break
            }
            if (lo <= 0n) break
            span.value *= 4n
            hi = lo
          }
        }
        return found
      })
  }

  // A DCB query read: each page is the UNION of one index-ordered subquery per item (see dcb.ts), cut at
  // the horizon taken when the read starts, so it is gap-free as every global read.
  const readQuery = (
    query: EventStore.Query,
    forwards: boolean,
    from: bigint | undefined,
    limit: number | undefined,
    bound: Horizon | undefined
  ) =>
    Subscription.paged({
      initial: from,
      pageSize,
      limit,
      readPage: (cursor: bigint | undefined, want: number) => {
        const matching = Dcb.positions(sql, query, { forwards, cursor, below: bound?.settled, want })
        const none = Effect.succeed([[], cursor] as const)
        if (matching === undefined || want <= 0) return none
        return Effect.map(
          events(sql`SELECT ${columns} FROM strata_events WHERE position IN (${matching})
            ORDER BY position ${sql.literal(forwards ? "ASC" : "DESC")} LIMIT ${sql.literal(String(want))}`),
          (page) => {
            const last = page[page.length - 1]
            return [page, last === undefined ? cursor : last.position + (forwards ? 1n : -1n)] as const
          }
        ).pipe(Effect.catchTag("SqlError", unavailable("readAll")))
      }
    })

  // A query read is a decision's read: it must see every event committed before it started, its own
  // writer's last append included. The horizon can lag behind one (an append in flight holds it below
  // positions committed after its own), and a decision that misses its own last event conflicts with
  // it, to read and decide again (a false conflict, as Marten #5280). So a query read waits, briefly,
  // until the horizon passes the head it saw when it started: appends in flight take milliseconds.
  const settledPastHead = (first: Horizon) =>
    Effect.gen(function*() {
      const head = yield* pastHead
      let bound = first
      for (let waited = 0; bound.settled < head && waited < 200; waited++) {
        yield* Effect.sleep("1 millis")
        bound = (yield* horizon)!
      }
      return bound
    })

  const readAll: EventStore.EventStoreShape["readAll"] = (readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit, query } = yield* Inputs.readOptions("readAll", readOptions, bigintInput)
      const filter = readOptions?.filter
      const where = filterSql(filter)
      const forwards = direction === "forwards"
      // Everything settled when the read starts, and nothing after it.
      const bound = yield* horizon.pipe(Effect.catchTag("SqlError", unavailable("readAll")))
      if (query !== undefined) {
        return readQuery(
          query,
          forwards,
          from,
          limit,
          bound === undefined || !bound.pending
            ? bound
            : yield* settledPastHead(bound).pipe(Effect.catchTag("SqlError", unavailable("readAll")))
        )
      }
      // Unfiltered reads walk the primary key in order already: no windows.
      const scanned = filterSql(filter, true)
      const inWindows = filter === undefined ? undefined : bound === undefined
        ? windowed(
          forwards,
          where,
          scanned,
          yield* pastHead.pipe(Effect.catchTag("SqlError", unavailable("readAll"))),
          true
        )
        : windowed(forwards, where, scanned, bound.settled, false)
      return Subscription.paged({
        // Backwards from the end starts with no upper bound (no sentinel value: D1 binds only 53 bits).
        initial: from ?? (forwards ? 0n : undefined),
        pageSize,
        limit,
        readPage: (cursor: bigint | undefined, want: number) =>
          Effect.map(
            inWindows !== undefined
              ? inWindows(cursor, want)
              : events(
                forwards
                  ? sql`SELECT ${columns} FROM strata_events
                  WHERE position >= ${cursor ?? 0n} AND ${
                    below(bound)
                  } AND ${where} ORDER BY position ASC LIMIT ${want}`
                  : sql`SELECT ${columns} FROM strata_events
                  WHERE ${cursor === undefined ? sql.literal("1 = 1") : sql`position <= ${cursor}`} AND ${
                    below(bound)
                  } AND ${where} ORDER BY position DESC LIMIT ${want}`
              ),
            (page) => {
              const last = page[page.length - 1]
              return [page, last === undefined ? cursor : last.position + (forwards ? 1n : -1n)] as const
            }
          ).pipe(Effect.catchTag("SqlError", unavailable("readAll")))
      })
    }))

  const wakeups: Effect.Effect<PubSub.Subscription<void>, never, Scope.Scope> = PubSub.subscribe(ctx.signal)

  // From the end: after the settled head, so an append still in flight below it is not lost.
  const globalHead = Effect.flatMap(horizon, (bound) =>
    bound === undefined
      ? Effect.map(
        sql<{ head: bigint | number | null }>`SELECT max(position) AS head FROM strata_events`,
        (found) => found[0]?.head === null || found[0]?.head === undefined ? 0n : BigInt(found[0].head)
      )
      : Effect.succeed(bound.settled - 1n)).pipe(Effect.catchTag("SqlError", unavailable("subscribeAll")))

  // The store's one live reader: every live subscription takes its events from it, filtered in
  // process, instead of reading for itself after each wake-up (see LiveFeed). Its pages stop below
  // the horizon like every global read; a new horizon is taken once the last one is reached.
  let feedBound: Horizon | undefined
  let feedReached = true
  // The reader runs with the services of the subscription that started it: never in its transaction.
  const outside = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.updateContext(effect, (services: Context.Context<never>) => Context.omit(sql.transactionService)(services))
  const feed = LiveFeed.make({
    readPage: (after, want) =>
      outside(Effect.gen(function*() {
        if (feedReached) feedBound = yield* horizon
        const found = yield* events(sql`SELECT ${columns} FROM strata_events
          WHERE position > ${after} AND ${below(feedBound)} ORDER BY position ASC LIMIT ${want}`)
        feedReached = found.length < want
        return { events: found, pending: feedBound?.pending }
      })).pipe(Effect.catchTag("SqlError", unavailable("subscribe"))),
    head: outside(globalHead),
    wakeups,
    pollInterval,
    pageSize,
    // A tombstone (from this store or another process) appends nothing the reader sees: on the poll
    // tick the members' streams are looked up by primary key, a chunk per statement, and the
    // members of a tombstoned one read again, where `rows.window` fails with StreamDeleted.
    gone: (names) =>
      outside(
        Effect.map(
          sql<{ stream: string }>`SELECT stream FROM strata_streams WHERE ${oneOf("stream", names)} AND tombstoned`,
          (found) => found.map((row) => row.stream)
        )
      ).pipe(Effect.catchTag("SqlError", unavailable("subscribe")))
  })
  const always = () => true

  const byVersion = (event: Event.RecordedEvent) => event.version
  const byPosition = (event: Event.RecordedEvent) => event.position

  // No Stream.unwrap around a subscription: its arguments are checked when it starts (`check`), so
  // an idle subscription holds nothing of the setup (issue 23, many subscribers).
  const subscribe: EventStore.EventStoreShape["subscribe"] = (stream, subscribeOptions) => {
    const from = subscribeOptions?.from ?? "start"
    return Subscription.catchUpThenLive<EventStore.ReadError>({
      check: typeof from === "object"
        ? Effect.andThen(StreamName.make(stream), bigintInput("subscribe", "from.after", from.after, -1n))
        : StreamName.make(stream),
      readPage: (after, want) =>
        Effect.gen(function*() {
          const visible = yield* rows.window(stream)
          const start = after + 1n > visible.first ? after + 1n : visible.first
          const found = yield* events(sql`SELECT ${columns} FROM strata_events
              WHERE stream = ${stream} AND version >= ${start} AND ${
            notTooOld(visible.minTime)
          } ORDER BY version ASC LIMIT ${want}`)
          return { events: found }
        }).pipe(Effect.catchTag("SqlError", unavailable("subscribe"))),
      head: Effect.map(rows.row(stream), (row) => StreamGuard.state(row).lastVersion ?? -1n).pipe(
        Effect.catchTag("SqlError", unavailable("subscribe"))
      ),
      cursorOf: byVersion,
      wakeups,
      pollInterval,
      pageSize,
      live: { feed, stream, matches: always }
    }, from)
  }

  const subscribeAll: EventStore.EventStoreShape["subscribeAll"] = (subscribeOptions) => {
    const from = subscribeOptions?.from ?? "start"
    const filter = subscribeOptions?.filter
    // Made at the first read, once `check` has passed the filter.
    let where: Statement.Fragment | undefined
    let scanned: Statement.Fragment | undefined
    // Per run of the stream (a run's first read must take a fresh horizon, after its join).
    const openReadPage = () => {
      // Rows below a horizon stay settled, so a new one is only needed once the last is reached.
      let bound: Horizon | undefined
      let reached = true
      // A filtered catch-up reads in position windows, as a filtered readAll does (see `windowed`).
      let inWindows: ReturnType<typeof windowed> | undefined
      return (after: bigint, want: number) =>
        Effect.gen(function*() {
          where ??= filterSql(filter)
          scanned ??= filterSql(filter, true)
          if (reached) {
            bound = yield* horizon
            inWindows = filter === undefined
              ? undefined
              : bound === undefined
              ? windowed(true, where, scanned, yield* pastHead, true)
              : windowed(true, where, scanned, bound.settled, false)
          }
          const found = inWindows !== undefined
            ? yield* inWindows(after + 1n, want)
            : yield* events(sql`SELECT ${columns} FROM strata_events
              WHERE position > ${after} AND ${below(bound)} AND ${where} ORDER BY position ASC LIMIT ${want}`)
          reached = found.length < want
          return { events: found, pending: bound?.pending }
        }).pipe(Effect.catchTag("SqlError", unavailable("subscribeAll")))
    }
    return Subscription.catchUpThenLive<StoreError.InvalidArgument | StoreError.StoreUnavailable>({
      check: Inputs.subscribeAllOptions("subscribeAll", subscribeOptions, bigintInput),
      readPage: (after, want) => openReadPage()(after, want),
      openReadPage,
      head: globalHead,
      cursorOf: byPosition,
      wakeups,
      pollInterval,
      pageSize,
      live: { feed, types: filter?.types, matches: (event) => Inputs.passes(filter, event.stream, event.type) }
    }, from)
  }

  return { read, readAll, subscribe, subscribeAll }
}
