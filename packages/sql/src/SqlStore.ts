/**
 * Strata's one SQL implementation of EventStore and DocumentStore, over effect/sql's SqlClient.
 * PostgreSQL, SQLite and D1 differ only in their {@link Dialect}.
 *
 * Appends run in one transaction: lock the stream rows, check tombstones and expected versions,
 * take the dialect's commit-order lock, insert the events, move the stream rows, notify. A failed
 * append is examined afterwards for an idempotent replay (the same event ids already stored in the
 * same stream and order), which succeeds with the original result.
 *
 * @since 0.1.0
 */
import {
  Consumer,
  DocumentQuery,
  DocumentStore,
  Event,
  EventStore,
  ExpectedVersion,
  StoreError,
  StreamName
} from "@strata/core"
import { AppendPlan, DocumentCodec, Inputs, Replay, Subscription, Tracing } from "@strata/core/backend"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import type { Dialect, DocumentWrite, Horizon, StreamRow } from "./Dialect.ts"
import { big, bool, optionalBig } from "./internal/values.ts"
import * as Migrations from "./Migrations.ts"
import * as StreamGuard from "./StreamGuard.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface SqlStoreOptions {
  readonly dialect: Dialect
  /** Name in spans, metrics and errors. Defaults to the dialect's name. */
  readonly backend?: string | undefined
  /** Largest event or document (UTF-8 JSON). Default 1 MiB. */
  readonly maxEventBytes?: number | undefined
  /** Rows per page for reads, subscriptions and document queries. Default 500. */
  readonly pageSize?: number | undefined
  /**
   * How long a live subscription waits for a wake-up before it reads anyway, so appends from
   * other processes are seen. Default 250 ms.
   */
  readonly pollInterval?: Duration.Input | undefined
}

/**
 * What {@link make} builds: both services, the wake-up signal its subscriptions wait on (a backend
 * may also feed it: PostgreSQL publishes to it on NOTIFY), and `committed`, published after every
 * commit that wrote events through this store (PostgreSQL turns it into a NOTIFY for other
 * processes). Both coalesce: a slow reader of either sees one signal for many commits.
 *
 * @category models
 * @since 0.1.0
 */
export interface SqlStore {
  readonly eventStore: EventStore.EventStoreShape
  readonly documentStore: DocumentStore.DocumentStoreShape
  readonly signal: PubSub.PubSub<void>
  readonly committed: PubSub.PubSub<void>
}

interface EventRow {
  readonly position: unknown
  readonly event_id: string
  readonly stream: string
  readonly version: unknown
  readonly type: string
  readonly data: unknown
  readonly metadata: unknown
  readonly created_at: unknown
}

type Plan = AppendPlan.AppendPlan

const eventColumns = "position, event_id, stream, version, type, data, metadata, created_at"

/**
 * Builds the stores over the SqlClient in context. The schema must exist (see `Migrations.run`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: SqlStoreOptions) {
  const sql = yield* SqlClient.SqlClient
  const { dialect } = options
  const backend = options.backend ?? dialect.name
  const maxEventBytes = options.maxEventBytes ?? Event.defaultMaxEventBytes
  const pageSize = options.pageSize ?? 500
  const pollInterval = options.pollInterval ?? Duration.millis(250)
  const signal = yield* Subscription.makeSignal
  const committed = yield* Subscription.makeSignal
  const wake = Effect.andThen(PubSub.publish(signal, undefined), PubSub.publish(committed, undefined))

  // Transient database failures become StoreUnavailable; anything else is a bug, so a defect.
  const unavailable = (operation: string) => (error: SqlError) =>
    dialect.isTransient(error)
      ? Effect.fail(new StoreError.StoreUnavailable({ operation, reason: error.reason._tag, cause: error }))
      : Effect.die(error)

  // A rollback on a dead connection fails, and effect/sql turns that into a defect: when the defect
  // is a transient database error, the whole operation is StoreUnavailable (nothing was committed).
  const transaction = <A, E, R>(
    operation: string,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | SqlError | StoreError.StoreUnavailable, R> =>
    sql.withTransaction(effect).pipe(
      Effect.catchCause((cause): Effect.Effect<never, E | SqlError | StoreError.StoreUnavailable> => {
        const defect = Cause.findDefect(cause)
        return Result.isSuccess(defect) && isSqlError(defect.success) && dialect.isTransient(defect.success)
          ? Effect.fail(
            new StoreError.StoreUnavailable({ operation, reason: defect.success.reason._tag, cause: defect.success })
          )
          : Effect.failCause(cause)
      })
    )

  // Versions and positions from callers, within what the database can bind (D1: 2^53).
  const bigintInput = (operation: string, name: string, value: unknown, min: bigint = 0n) =>
    Effect.flatMap(Inputs.bigint(operation, name, value, min), (checked) =>
      checked > dialect.maxInteger
        ? Effect.fail(
          new StoreError.InvalidArgument({
            operation,
            detail:
              `${name} ${checked} is above ${dialect.maxInteger}, the largest integer the ${backend} backend stores`
          })
        )
        : Effect.succeed(checked))

  const toRecorded = (row: EventRow): Event.RecordedEvent => ({
    id: row.event_id,
    stream: row.stream,
    version: big(row.version),
    position: big(row.position),
    type: row.type,
    data: dialect.decodeJson(row.data),
    metadata: dialect.decodeJson(row.metadata) as Event.EventMetadata,
    createdAt: dialect.decodeTime(row.created_at)
  })

  // ---- appends ----

  const insertChunks = <A extends Record<string, unknown>>(rows: ReadonlyArray<A>, columns: number) => {
    const size = Math.max(1, Math.floor(dialect.maxParams / columns))
    const chunks: Array<NonEmptyReadonlyArray<A>> = []
    for (let i = 0; i < rows.length; i += size) {
      chunks.push(rows.slice(i, i + size) as unknown as NonEmptyReadonlyArray<A>)
    }
    return chunks
  }

  /** The append transaction. `alsoInTransaction` runs after the events, before commit (documents). */
  const appendInTransaction = <A, E>(
    plans: ReadonlyArray<Plan>,
    now: number,
    alsoInTransaction: Effect.Effect<A, E>
  ) =>
    transaction(
      "append",
      Effect.gen(function*() {
        const rows = yield* dialect.lockStreams(sql, plans.map((plan) => plan.request.stream))
        const byName = new Map(rows.map((row) => [row.stream, row]))
        const writes: Array<{ plan: Plan; first: bigint }> = []
        for (const plan of plans) {
          const { stream } = plan.request
          const row = byName.get(stream)
          if (StreamGuard.tombstoned(row)) {
            return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
          }
          const state = StreamGuard.state(row)
          const conflict = ExpectedVersion.check(stream, plan.request.expected, state)
          if (conflict !== undefined) {
            return yield* conflict
          }
          writes.push({ plan, first: (state.lastVersion ?? -1n) + 1n })
        }
        yield* dialect.beforeInsert(sql)
        const createdAt = dialect.time(now)
        const eventRows = writes.flatMap(({ first, plan }) =>
          plan.prepared.map((event, i) => ({
            event_id: event.id,
            stream: plan.request.stream,
            version: first + BigInt(i),
            category: StreamName.category(plan.request.stream),
            type: event.type,
            data: event.data,
            metadata: event.metadata,
            created_at: createdAt
          }))
        )
        const positions = new Map<string, bigint>()
        for (const chunk of insertChunks(eventRows, 8)) {
          const inserted = yield* sql<{ stream: string; position: unknown }>`INSERT INTO strata_events ${
            sql.insert(chunk)
          } RETURNING stream, position`
          for (const row of inserted) {
            const position = big(row.position)
            if (position > (positions.get(row.stream) ?? -1n)) positions.set(row.stream, position)
          }
        }
        const streamRows = writes.map(({ first, plan }) => ({
          stream: plan.request.stream,
          last_version: first + BigInt(plan.prepared.length) - 1n,
          deleted: false
        }))
        for (const chunk of insertChunks(streamRows, 3)) {
          yield* sql`INSERT INTO strata_streams ${
            sql.insert(chunk)
          } ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version, deleted = excluded.deleted`
        }
        const also = yield* alsoInTransaction
        // Subscribers in this process wake once the outermost transaction has committed.
        yield* sql.afterCommit(Effect.asVoid(wake))
        const results = writes.map(({ first, plan }): EventStore.AppendResult => ({
          stream: plan.request.stream,
          nextExpectedVersion: first + BigInt(plan.prepared.length) - 1n,
          position: positions.get(plan.request.stream)!
        }))
        return { results, also }
      })
    )

  // A single-stream append through the dialect's one-round-trip path, failing like the transaction would.
  // The hot path of every single-stream append: plain combinators, no generator.
  const wakeAfterCommit = sql.afterCommit(Effect.asVoid(wake))
  const appendFast = (plan: Plan, now: number, appendOne: NonNullable<Dialect["appendOne"]>) => {
    const { stream } = plan.request
    const expected = plan.request.expected ?? ExpectedVersion.any
    return Effect.flatMap(
      appendOne(sql, {
        stream,
        category: StreamName.category(stream),
        expected,
        events: plan.prepared,
        createdAt: dialect.time(now)
      }),
      (outcome): Effect.Effect<
        ReadonlyArray<EventStore.AppendResult>,
        StoreError.StreamDeleted | StoreError.WrongExpectedVersion
      > => {
        switch (outcome._tag) {
          case "Tombstoned":
            return Effect.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
          case "Conflict":
            return Effect.fail(
              new StoreError.WrongExpectedVersion({
                stream,
                expected: ExpectedVersion.format(expected),
                actual: outcome.actual
              })
            )
          case "Ok":
            return Effect.as(wakeAfterCommit, [{
              stream,
              nextExpectedVersion: outcome.lastVersion,
              position: outcome.position
            }])
        }
      }
    )
  }

  // Through the dialect's atomic batch (no transactions): same outcomes as appendInTransaction.
  const appendBatched = (
    plans: ReadonlyArray<Plan>,
    now: number,
    appendBatch: NonNullable<Dialect["appendBatch"]>,
    document: DocumentWrite | undefined
  ) =>
    Effect.gen(function*() {
      const outcome = yield* appendBatch(sql, {
        appends: plans.map((plan) => ({
          stream: plan.request.stream,
          category: StreamName.category(plan.request.stream),
          expected: plan.request.expected ?? ExpectedVersion.any,
          events: plan.prepared,
          createdAt: dialect.time(now)
        })),
        document
      })
      if (outcome._tag === "Ok") {
        yield* Effect.asVoid(wake)
        return {
          results: outcome.results.map((result) => ({
            stream: result.stream,
            nextExpectedVersion: result.lastVersion,
            position: result.position
          })),
          documentVersion: outcome.documentVersion
        }
      }
      // A guard failed and nothing was written: find the first part that explains it.
      for (const plan of plans) {
        const problem = yield* diagnose(plan.request.stream, plan.request.expected ?? ExpectedVersion.any)
        if (problem !== undefined) return yield* problem
      }
      if (document !== undefined) {
        const row = yield* documentRow(document.collection, document.id)
        const actual = row === undefined ? undefined : big(row.version)
        const ok = document.expected === "any" ||
          (document.expected === "missing" ? actual === undefined : actual === document.expected)
        if (!ok) {
          return yield* new StoreError.DocumentConflict({
            collection: document.collection,
            id: document.id,
            expected: expectedLabel(document.expected),
            actual
          })
        }
      }
      // The state moved on between the batch and the re-read; the caller may simply try again.
      return yield* new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" })
    })

  /** Appends atomically: one batch where the dialect has no transactions, else a transaction. */
  const appendAtomically = (
    plans: ReadonlyArray<Plan>,
    now: number,
    document?: DocumentWrite
  ): Effect.Effect<
    { readonly results: ReadonlyArray<EventStore.AppendResult>; readonly documentVersion: bigint | undefined },
    | StoreError.WrongExpectedVersion
    | StoreError.StreamDeleted
    | StoreError.StoreUnavailable
    | StoreError.DocumentConflict
    | SqlError
  > =>
    dialect.appendBatch !== undefined
      ? appendBatched(plans, now, dialect.appendBatch, document)
      : appendInTransaction(
        plans,
        now,
        document === undefined
          ? Effect.succeed<bigint | undefined>(undefined)
          : writeDocument(document.collection, document.id, document.json, document.expected)
      ).pipe(Effect.map(({ also, results }) => ({ results, documentVersion: also })))

  // After a failed append: which parts were already stored by an earlier, identical append?
  const classify = (plans: ReadonlyArray<Plan>) =>
    Effect.gen(function*() {
      const ids = plans.flatMap((plan) => plan.prepared.map((event) => event.id))
      const found = new Map<string, { stream: string; version: bigint; position: bigint }>()
      const chunk = Math.min(500, dialect.maxParams)
      for (let i = 0; i < ids.length; i += chunk) {
        const rows = yield* sql<{ event_id: string; stream: string; version: unknown; position: unknown }>`
          SELECT event_id, stream, version, position FROM strata_events WHERE ${
          sql.in("event_id", ids.slice(i, i + chunk))
        }`
        for (const row of rows) {
          found.set(row.event_id, { stream: row.stream, version: big(row.version), position: big(row.position) })
        }
      }
      return plans.map((plan) => Replay.classifyPlan(plan, (id) => found.get(id)))
    })

  const commit = (
    plans: ReadonlyArray<Plan>,
    now: number,
    retried = false
  ): Effect.Effect<
    ReadonlyArray<EventStore.AppendResult>,
    StoreError.WrongExpectedVersion | StoreError.StreamDeleted | StoreError.DuplicateEvent | StoreError.StoreUnavailable
  > =>
    (plans.length === 1 && dialect.appendOne !== undefined
      ? appendFast(plans[0], now, dialect.appendOne)
      : Effect.map(appendAtomically(plans, now), ({ results }) => results)).pipe(
        Effect.catch((error) =>
          Effect.gen(function*() {
            if (error._tag === "StreamDeleted" || error._tag === "StoreUnavailable") return yield* error
            // Only a document write can conflict, and plain appends carry none.
            if (error._tag === "DocumentConflict") return yield* Effect.die(error)
            if (error._tag === "SqlError" && !dialect.isUniqueViolation(error)) {
              return yield* unavailable("append")(error)
            }
            const outcomes = yield* classify(plans).pipe(Effect.catchTag("SqlError", unavailable("append")))
            const duplicate = outcomes.find((outcome) => outcome._tag === "Duplicate")
            if (duplicate !== undefined) {
              const plan = plans[outcomes.indexOf(duplicate)]
              return yield* new StoreError.DuplicateEvent({ stream: plan.request.stream, eventId: duplicate.eventId })
            }
            const fresh = plans.filter((_, i) => outcomes[i]._tag === "New")
            if (fresh.length === plans.length) {
              // Nothing was a replay: a real conflict, or (unique violation) a concurrent writer won a
              // race the row locks should have prevented; the latter is safe to retry.
              if (error._tag === "WrongExpectedVersion") return yield* error
              return yield* new StoreError.StoreUnavailable({
                operation: "append",
                reason: "ConcurrentWrite",
                cause: error
              })
            }
            if (error._tag === "WrongExpectedVersion" && fresh.some((plan) => plan.request.stream === error.stream)) {
              return yield* error
            }
            if (retried) {
              return yield* new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" })
            }
            const written = fresh.length === 0 ? [] : yield* commit(fresh, now, true)
            let next = 0
            return outcomes.map((outcome) => outcome._tag === "Replay" ? outcome.result : written[next++])
          })
        )
      )

  const append: EventStore.EventStoreShape["append"] = (stream, events, appendOptions) =>
    Effect.suspend(() =>
      Effect.flatMap(
        AppendPlan.one({ stream, events, expected: appendOptions?.expected }, maxEventBytes),
        (plan) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.map(commit([plan], now), ([result]) => result))
      )
    )

  const appendMany: EventStore.EventStoreShape["appendMany"] = (requests) =>
    Effect.gen(function*() {
      const plans = yield* AppendPlan.many("appendMany", requests, maxEventBytes)
      return yield* commit(plans, yield* Clock.currentTimeMillis)
    })

  // ---- reads ----

  const streamRow = (stream: string) =>
    Effect.map(
      sql<StreamRow>`SELECT * FROM strata_streams WHERE stream = ${stream}`,
      (rows): StreamRow | undefined => rows[0]
    )

  // The visible window of a stream now, or the reason it cannot be read.
  const window = (stream: string) =>
    Effect.gen(function*() {
      const row = yield* streamRow(stream)
      if (StreamGuard.tombstoned(row)) {
        return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
      }
      const { lastVersion } = StreamGuard.state(row)
      const maxCount = optionalBig(row?.max_count)
      const first = Inputs.firstVisibleVersion(lastVersion, {
        truncateBefore: optionalBig(row?.truncate_before),
        maxCount: maxCount === undefined ? undefined : Number(maxCount)
      })
      const maxAge = optionalBig(row?.max_age_ms)
      const minTime = maxAge === undefined ? undefined : (yield* Clock.currentTimeMillis) - Number(maxAge)
      return { lastVersion, first, minTime }
    })

  const notTooOld = (minTime: number | undefined) =>
    minTime === undefined ? sql.literal("1 = 1") : sql`created_at >= ${dialect.time(minTime)}`

  const read: EventStore.EventStoreShape["read"] = (stream, readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const direction = yield* Inputs.direction("read", readOptions?.direction)
      const limit = yield* Inputs.limit("read", readOptions?.limit)
      const from = readOptions?.from === undefined ? undefined : yield* bigintInput("read", "from", readOptions.from)
      yield* StreamName.make(stream)
      const visible = yield* window(stream).pipe(Effect.catchTag("SqlError", unavailable("read")))
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
            const rows = yield* (forwards
              ? sql<EventRow>`SELECT ${sql.literal(eventColumns)} FROM strata_events WHERE stream = ${stream}
                  AND version >= ${start} AND ${notTooOld(visible.minTime)} ORDER BY version ASC LIMIT ${want}`
              : sql<EventRow>`SELECT ${sql.literal(eventColumns)} FROM strata_events WHERE stream = ${stream}
                  AND version <= ${cursor} AND version >= ${visible.first} AND ${
                notTooOld(visible.minTime)
              } ORDER BY version DESC LIMIT ${want}`)
            const page = rows.map(toRecorded)
            const last = page[page.length - 1]
            return [page, last === undefined ? cursor : last.version + (forwards ? 1n : -1n)] as const
          }).pipe(Effect.catchTag("SqlError", unavailable("read")))
      })
    }))

  const filterSql = (filter: EventStore.EventFilter | undefined): Statement.Fragment => {
    const clauses: Array<Statement.Fragment> = []
    if (filter?.types !== undefined) {
      clauses.push(filter.types.length === 0 ? sql.literal("1 = 0") : sql.in("type", filter.types))
    }
    if (filter?.categories !== undefined) {
      clauses.push(filter.categories.length === 0 ? sql.literal("1 = 0") : sql.in("category", filter.categories))
    }
    if (filter?.streamPrefixes !== undefined) {
      clauses.push(
        filter.streamPrefixes.length === 0 ?
          sql.literal("1 = 0") :
          sql.or(
            filter.streamPrefixes.map((prefix) =>
              sql`substr(stream, 1, ${sql.literal(String(prefix.length))}) = ${prefix}`
            )
          )
      )
    }
    return clauses.length === 0 ? sql.literal("1 = 1") : sql.and(clauses)
  }

  // Where global reads stop: below the dialect's horizon, taken in an earlier statement than the
  // read (PostgreSQL); anywhere where visible order is commit order.
  const horizon: Effect.Effect<Horizon | undefined, SqlError> = dialect.horizon === undefined
    ? Effect.succeed(undefined)
    : dialect.horizon(sql)
  const below = (bound: Horizon | undefined): Statement.Fragment =>
    bound === undefined ? sql.literal("1 = 1") : sql`position < ${bound.settled}`

  const readAll: EventStore.EventStoreShape["readAll"] = (readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const direction = yield* Inputs.direction("readAll", readOptions?.direction)
      const limit = yield* Inputs.limit("readAll", readOptions?.limit)
      const from = readOptions?.from === undefined
        ? undefined
        : yield* bigintInput("readAll", "from", readOptions.from)
      yield* Inputs.filter("readAll", readOptions?.filter)
      const where = filterSql(readOptions?.filter)
      const forwards = direction === "forwards"
      // Everything settled when the read starts, and nothing after it.
      const bound = yield* horizon.pipe(Effect.catchTag("SqlError", unavailable("readAll")))
      return Subscription.paged({
        // Backwards from the end starts with no upper bound (no sentinel value: D1 binds only 53 bits).
        initial: from ?? (forwards ? 0n : undefined),
        pageSize,
        limit,
        readPage: (cursor: bigint | undefined, want: number) =>
          Effect.map(
            forwards
              ? sql<EventRow>`SELECT ${sql.literal(eventColumns)} FROM strata_events
                  WHERE position >= ${cursor ?? 0n} AND ${
                below(bound)
              } AND ${where} ORDER BY position ASC LIMIT ${want}`
              : sql<EventRow>`SELECT ${sql.literal(eventColumns)} FROM strata_events
                  WHERE ${cursor === undefined ? sql.literal("1 = 1") : sql`position <= ${cursor}`} AND ${
                below(bound)
              } AND ${where} ORDER BY position DESC LIMIT ${want}`,
            (rows) => {
              const page = rows.map(toRecorded)
              const last = page[page.length - 1]
              return [page, last === undefined ? cursor : last.position + (forwards ? 1n : -1n)] as const
            }
          ).pipe(Effect.catchTag("SqlError", unavailable("readAll")))
      })
    }))

  const wakeups: Effect.Effect<PubSub.Subscription<void>, never, Scope.Scope> = PubSub.subscribe(signal)

  const subscribe: EventStore.EventStoreShape["subscribe"] = (stream, subscribeOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      yield* StreamName.make(stream)
      const from = subscribeOptions?.from ?? "start"
      if (typeof from === "object") yield* bigintInput("subscribe", "from.after", from.after, -1n)
      return Subscription.catchUpThenLive({
        readPage: (after, want) =>
          Effect.gen(function*() {
            const visible = yield* window(stream)
            const start = after + 1n > visible.first ? after + 1n : visible.first
            const rows = yield* sql<EventRow>`SELECT ${sql.literal(eventColumns)} FROM strata_events
              WHERE stream = ${stream} AND version >= ${start} AND ${
              notTooOld(visible.minTime)
            } ORDER BY version ASC LIMIT ${want}`
            return { events: rows.map(toRecorded) }
          }).pipe(Effect.catchTag("SqlError", unavailable("subscribe"))),
        head: Effect.map(streamRow(stream), (row) => StreamGuard.state(row).lastVersion ?? -1n).pipe(
          Effect.catchTag("SqlError", unavailable("subscribe"))
        ),
        cursorOf: (event) => event.version,
        wakeups,
        pollInterval,
        pageSize
      }, from)
    }))

  const subscribeAll: EventStore.EventStoreShape["subscribeAll"] = (subscribeOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const from = subscribeOptions?.from ?? "start"
      if (typeof from === "object") yield* bigintInput("subscribeAll", "from.after", from.after, 0n)
      yield* Inputs.filter("subscribeAll", subscribeOptions?.filter)
      const where = filterSql(subscribeOptions?.filter)
      // Rows below a horizon stay settled, so a new one is only needed once the last is reached.
      let bound: Horizon | undefined
      let reached = true
      return Subscription.catchUpThenLive({
        readPage: (after, want) =>
          Effect.gen(function*() {
            if (reached) bound = yield* horizon
            const rows = yield* sql<EventRow>`SELECT ${sql.literal(eventColumns)} FROM strata_events
              WHERE position > ${after} AND ${below(bound)} AND ${where} ORDER BY position ASC LIMIT ${want}`
            reached = rows.length < want
            return { events: rows.map(toRecorded), pending: bound?.pending }
          }).pipe(Effect.catchTag("SqlError", unavailable("subscribeAll"))),
        // From the end: after the settled head, so an append still in flight below it is not lost.
        head: Effect.flatMap(horizon, (bound) =>
          bound === undefined
            ? Effect.map(
              sql<{ head: unknown }>`SELECT max(position) AS head FROM strata_events`,
              (rows) => optionalBig(rows[0]?.head) ?? 0n
            )
            : Effect.succeed(bound.settled - 1n)).pipe(Effect.catchTag("SqlError", unavailable("subscribeAll"))),
        cursorOf: (event) => event.position,
        wakeups,
        pollInterval,
        pageSize
      }, from)
    }))

  // ---- stream lifecycle ----

  const retentionOf = (row: StreamRow | undefined): EventStore.StreamRetention => {
    const out: { truncateBefore?: bigint; maxCount?: number; maxAge?: Duration.Duration } = {}
    const truncateBefore = optionalBig(row?.truncate_before)
    const maxCount = optionalBig(row?.max_count)
    const maxAge = optionalBig(row?.max_age_ms)
    if (truncateBefore !== undefined) out.truncateBefore = truncateBefore
    if (maxCount !== undefined) out.maxCount = Number(maxCount)
    if (maxAge !== undefined) out.maxAge = Duration.millis(Number(maxAge))
    return out
  }

  const streamInfo: EventStore.EventStoreShape["streamInfo"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const row = yield* streamRow(stream).pipe(Effect.catchTag("SqlError", unavailable("streamInfo")))
      const { lastVersion } = StreamGuard.state(row)
      const status: EventStore.StreamStatus = row === undefined
        ? "missing"
        : bool(row.tombstoned)
        ? "tombstoned"
        : bool(row.deleted)
        ? "deleted"
        : lastVersion === undefined
        ? "missing"
        : "active"
      return { stream, status, lastVersion, retention: retentionOf(row) }
    })

  // The expected-version rule of ExpectedVersion.matches, as SQL over a strata_streams row, so a
  // single statement can check and write atomically (no interactive transaction needed: D1 has none).
  const expectedSql = (expected: ExpectedVersion.ExpectedVersion, table = "strata_streams"): Statement.Fragment => {
    switch (expected._tag) {
      case "Any":
        return sql.literal("1 = 1")
      case "NoStream":
        return sql.literal(`(${table}.deleted OR ${table}.last_version < 0)`)
      case "StreamExists":
        return sql.literal(`(NOT ${table}.deleted AND ${table}.last_version >= 0)`)
      case "Exact":
        return sql`(NOT ${sql.literal(`${table}.deleted`)} AND ${
          sql.literal(`${table}.last_version`)
        } = ${expected.version})`
    }
  }

  // After a guarded statement changed nothing: why? Re-read the row and apply the same rules.
  const diagnose = (stream: string, expected: ExpectedVersion.ExpectedVersion) =>
    Effect.map(streamRow(stream), (row) => {
      if (StreamGuard.tombstoned(row)) return new StoreError.StreamDeleted({ stream, tombstoned: true })
      return ExpectedVersion.check(stream, expected, StreamGuard.state(row))
    })

  const deleteWith = (
    operation: string,
    stream: string,
    deleteOptions: EventStore.AppendOptions | undefined,
    statement: (guard: Statement.Fragment) => Statement.Statement<{ stream: string }>
  ) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const expected = deleteOptions?.expected ?? ExpectedVersion.any
      const changed = yield* statement(expectedSql(expected))
      if (changed.length > 0) {
        // A snapshot folds the deleted events: a re-created stream must not start from it.
        yield* sql`DELETE FROM strata_snapshots WHERE stream = ${stream}`
        return
      }
      // Nothing changed: a conflict, a tombstone, or nothing to delete (which `expected` allowed).
      const problem = yield* diagnose(stream, expected)
      if (problem !== undefined) return yield* problem
    }).pipe(Effect.catchTag("SqlError", unavailable(operation)))

  const deleteStream: EventStore.EventStoreShape["deleteStream"] = (stream, deleteOptions) =>
    deleteWith(
      "deleteStream",
      stream,
      deleteOptions,
      (guard) =>
        sql<{ stream: string }>`UPDATE strata_streams SET deleted = ${true}, truncate_before = last_version + 1
        WHERE stream = ${stream} AND NOT tombstoned AND last_version >= 0 AND ${guard} RETURNING stream`
    )

  const tombstoneStream: EventStore.EventStoreShape["tombstoneStream"] = (stream, deleteOptions) => {
    const expected = deleteOptions?.expected ?? ExpectedVersion.any
    // A missing stream may only be tombstoned when `expected` accepts a stream with no events.
    const missingAllowed = ExpectedVersion.matches(expected, { lastVersion: undefined, deleted: false })
    return deleteWith(
      "tombstoneStream",
      stream,
      deleteOptions,
      (guard) =>
        sql<{ stream: string }>`INSERT INTO strata_streams (stream, tombstoned)
        SELECT ${stream}, ${true} WHERE ${sql.literal(missingAllowed ? "1 = 1" : "1 = 0")}
        ON CONFLICT (stream) DO UPDATE SET tombstoned = excluded.tombstoned
        WHERE NOT strata_streams.tombstoned AND ${guard} RETURNING stream`
    )
  }

  const setRetention: EventStore.EventStoreShape["setRetention"] = (stream, patch) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const rules = yield* Inputs.retention(patch)
      const values: Record<string, unknown> = {}
      if (rules.truncateBefore !== undefined) values.truncate_before = rules.truncateBefore
      if (rules.maxCount !== undefined) values.max_count = rules.maxCount
      if (rules.maxAgeMillis !== undefined) values.max_age_ms = rules.maxAgeMillis
      const columns = Object.keys(values)
      const rows = columns.length === 0
        ? yield* sql<StreamRow>`SELECT * FROM strata_streams WHERE stream = ${stream} AND NOT tombstoned`
        : yield* sql<StreamRow>`INSERT INTO strata_streams ${sql.insert({ stream, ...values })}
          ON CONFLICT (stream) DO UPDATE SET ${
          sql.literal(columns.map((column) => `${column} = excluded.${column}`).join(", "))
        } WHERE NOT strata_streams.tombstoned RETURNING *`
      if (rows.length === 0) {
        const row = yield* streamRow(stream)
        if (StreamGuard.tombstoned(row)) {
          return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
        }
      }
      return retentionOf(rows[0])
    }).pipe(Effect.catchTag("SqlError", unavailable("setRetention")))

  // ---- snapshots and checkpoints ----

  const saveSnapshot: EventStore.EventStoreShape["saveSnapshot"] = (stream, snapshot) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const version = yield* bigintInput("saveSnapshot", "version", snapshot.version)
      const schemaVersion = snapshot.schemaVersion ?? 1
      const state = yield* Inputs.snapshotState(snapshot.state, schemaVersion)
      const now = yield* Clock.currentTimeMillis
      yield* sql`INSERT INTO strata_snapshots ${
        sql.insert({ stream, version, state, schema_version: schemaVersion, created_at: dialect.time(now) })
      } ON CONFLICT (stream) DO UPDATE SET version = excluded.version, state = excluded.state,
        schema_version = excluded.schema_version, created_at = excluded.created_at`.pipe(
        Effect.catchTag("SqlError", unavailable("saveSnapshot"))
      )
    })

  const loadSnapshot: EventStore.EventStoreShape["loadSnapshot"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const rows = yield* sql<{ version: unknown; state: unknown; schema_version: unknown; created_at: unknown }>`
        SELECT version, state, schema_version, created_at FROM strata_snapshots WHERE stream = ${stream}`.pipe(
        Effect.catchTag("SqlError", unavailable("loadSnapshot"))
      )
      const row = rows[0]
      return row === undefined ? Option.none() : Option.some({
        stream,
        version: big(row.version),
        state: dialect.decodeJson(row.state),
        schemaVersion: Number(row.schema_version),
        createdAt: dialect.decodeTime(row.created_at)
      })
    })

  const saveCheckpoint: EventStore.EventStoreShape["saveCheckpoint"] = (name, position) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("saveCheckpoint", name)
      const at = yield* bigintInput("saveCheckpoint", "position", position)
      yield* sql`INSERT INTO strata_checkpoints ${
        sql.insert({ name, position: at })
      } ON CONFLICT (name) DO UPDATE SET position = excluded.position`.pipe(
        Effect.catchTag("SqlError", unavailable("saveCheckpoint"))
      )
    })

  const loadCheckpoint: EventStore.EventStoreShape["loadCheckpoint"] = (name) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("loadCheckpoint", name)
      const rows = yield* sql<{ position: unknown }>`SELECT position FROM strata_checkpoints WHERE name = ${name}`.pipe(
        Effect.catchTag("SqlError", unavailable("loadCheckpoint"))
      )
      return rows[0] === undefined ? Option.none() : Option.some(big(rows[0].position))
    })

  const eventStore = Tracing.eventStore({
    backend,
    append,
    appendMany,
    read,
    readAll,
    subscribe,
    subscribeAll,
    streamInfo,
    deleteStream,
    tombstoneStream,
    setRetention,
    saveSnapshot,
    loadSnapshot,
    saveCheckpoint,
    loadCheckpoint
  })

  // ---- documents ----

  const indexed = new Set<string>()
  const ensureIndexes = <A, I>(collection: DocumentStore.Collection<A, I>) =>
    Effect.suspend(() => {
      if (indexed.has(collection.name)) return Effect.void
      const statements = collection.indexes.flatMap((index) => {
        const fields = index.fields.filter((field) => DocumentQuery.fieldPathPattern.test(field))
        if (fields.length === 0 || fields.length !== index.fields.length) return []
        const expressions = fields.flatMap((field) => dialect.field(field.split(".")).indexed)
        const name = `strata_doc_${collection.name}_${fields.join("_").replace(/\./g, "_")}`.slice(0, 63)
        return [dialect.createIndex(collection.name, name, expressions)]
      })
      return Effect.forEach(statements, (statement) => sql.unsafe(statement), { discard: true }).pipe(
        Effect.tap(() => Effect.sync(() => indexed.add(collection.name))),
        Effect.withTracerEnabled(false)
      )
    })

  const documentRow = (collection: string, id: string) =>
    Effect.map(
      sql<{ version: unknown; data: unknown }>`SELECT version, data FROM strata_documents
        WHERE collection = ${collection} AND id = ${id}`,
      (rows) => rows[0]
    )

  const expectedLabel = (expected: DocumentStore.ExpectedDocument) =>
    expected === "any" ? "any" : expected === "missing" ? "missing" : `version ${expected}`

  const get: DocumentStore.DocumentStoreShape["get"] = (collection, id) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const row = yield* documentRow(collection.name, id).pipe(Effect.catchTag("SqlError", unavailable("get")))
      return row === undefined
        ? Option.none()
        : Option.some(yield* DocumentCodec.decode(collection, id, big(row.version), dialect.decodeJson(row.data)))
    })

  // Each document write is one guarded statement: atomic without a transaction.
  const writeDocument = (
    collection: string,
    id: string,
    json: string,
    expected: DocumentStore.ExpectedDocument
  ) =>
    Effect.gen(function*() {
      const data = dialect.document(sql, json)
      const rows = expected === "any"
        ? yield* sql<{ version: unknown }>`INSERT INTO strata_documents (collection, id, version, data)
            VALUES (${collection}, ${id}, 1, ${data})
            ON CONFLICT (collection, id) DO UPDATE SET version = strata_documents.version + 1, data = excluded.data
            RETURNING version`
        : expected === "missing"
        ? yield* sql<{ version: unknown }>`INSERT INTO strata_documents (collection, id, version, data)
            VALUES (${collection}, ${id}, 1, ${data}) ON CONFLICT (collection, id) DO NOTHING RETURNING version`
        : yield* sql<{ version: unknown }>`UPDATE strata_documents SET version = version + 1, data = ${data}
            WHERE collection = ${collection} AND id = ${id} AND version = ${expected} RETURNING version`
      if (rows.length > 0) return big(rows[0].version)
      const row = yield* documentRow(collection, id)
      return yield* new StoreError.DocumentConflict({
        collection,
        id,
        expected: expectedLabel(expected),
        actual: row === undefined ? undefined : big(row.version)
      })
    })

  const put: DocumentStore.DocumentStoreShape["put"] = (collection, id, value, putOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = yield* DocumentCodec.expected(putOptions?.expected)
      const json = yield* DocumentCodec.encode(collection, id, value, maxEventBytes)
      const requests = putOptions?.events ?? []
      yield* ensureIndexes(collection).pipe(Effect.catchTag("SqlError", unavailable("put")))
      if (requests.length === 0) {
        const version = yield* writeDocument(collection.name, id, json, expected).pipe(
          Effect.catchTag("SqlError", unavailable("put"))
        )
        return { version, appended: [] }
      }
      const plans = yield* AppendPlan.many("put", requests, maxEventBytes)
      const now = yield* Clock.currentTimeMillis
      const written = yield* appendAtomically(plans, now, { collection: collection.name, id, json, expected }).pipe(
        Effect.catch((error): Effect.Effect<
          never,
          | StoreError.StoreUnavailable
          | StoreError.DuplicateEvent
          | StoreError.WrongExpectedVersion
          | StoreError.StreamDeleted
          | StoreError.DocumentConflict
        > =>
          error._tag === "SqlError"
            ? dialect.isUniqueViolation(error)
              // An event id was taken (replays are not allowed to carry a document write).
              ? Effect.flatMap(
                classify(plans).pipe(Effect.catchTag("SqlError", unavailable("put"))),
                (outcomes): Effect.Effect<never, StoreError.StoreUnavailable | StoreError.DuplicateEvent> => {
                  const taken = outcomes.findIndex((outcome) => outcome._tag !== "New")
                  return taken === -1
                    ? Effect.fail(new StoreError.StoreUnavailable({ operation: "put", reason: "ConcurrentWrite" }))
                    : Effect.fail(
                      new StoreError.DuplicateEvent({
                        stream: plans[taken].request.stream,
                        eventId: plans[taken].prepared[0].id
                      })
                    )
                }
              )
              : unavailable("put")(error)
            : Effect.fail(error)
        )
      )
      return { version: written.documentVersion!, appended: written.results }
    })

  const remove: DocumentStore.DocumentStoreShape["delete"] = (collection, id, deleteOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = deleteOptions?.expected ?? "any"
      if (expected === "missing") {
        const row = yield* documentRow(collection.name, id)
        if (row === undefined) return false
        return yield* new StoreError.DocumentConflict({
          collection: collection.name,
          id,
          expected: "missing",
          actual: big(row.version)
        })
      }
      const rows = yield* sql<{ version: unknown }>`DELETE FROM strata_documents
        WHERE collection = ${collection.name} AND id = ${id} ${
        expected === "any" ? sql.literal("") : sql`AND version = ${expected}`
      } RETURNING version`
      if (rows.length > 0) return true
      if (expected === "any") return false
      const row = yield* documentRow(collection.name, id)
      return yield* new StoreError.DocumentConflict({
        collection: collection.name,
        id,
        expected: expectedLabel(expected),
        actual: row === undefined ? undefined : big(row.version)
      })
    }).pipe(Effect.catchTag("SqlError", unavailable("delete")))

  const predicateSql = (predicate: DocumentQuery.Predicate): Statement.Fragment => {
    const field = dialect.field(predicate.path)
    switch (predicate.op) {
      case "eq":
        return field.equals(sql, predicate.value as DocumentStore.Scalar)
      case "ne":
        return sql`(CASE WHEN ${field.equals(sql, predicate.value as DocumentStore.Scalar)} THEN 1 ELSE 0 END) = 0`
      case "in": {
        const values = predicate.value as ReadonlyArray<DocumentStore.Scalar>
        return values.length === 0 ? sql.literal("1 = 0") : sql.or(values.map((value) => field.equals(sql, value)))
      }
      default:
        return field.compare(sql, predicate.op, predicate.value as string | number)
    }
  }

  // The (rank, number, string) sort key of a scalar: the JavaScript twin of Dialect.field's SQL.
  const sortKey = (value: DocumentStore.Scalar): readonly [number, number, string] =>
    value === null
      ? [0, 0, ""]
      : typeof value === "boolean"
      ? [1, value ? 1 : 0, ""]
      : typeof value === "number"
      ? [2, value, ""]
      : [3, 0, value]

  const afterCursor = (query: DocumentQuery.NormalizedQuery): Statement.Fragment => {
    if (query.after === undefined) return sql.literal("1 = 1")
    const after = query.after
    // Keyset: (k1 > c1) OR (k1 = c1 AND k2 > c2) OR ... OR (all equal AND id > cid),
    // where each ki is a (rank, num, str) triple compared in its sort direction.
    const parts: Array<{ expr: string; value: unknown; descending: boolean }> = []
    query.orderBy.forEach((key, i) => {
      const field = dialect.field(key.path)
      const [rank, num, str] = sortKey(after.values[i])
      parts.push({ expr: field.rank, value: rank, descending: key.descending })
      parts.push({ expr: field.num, value: num, descending: key.descending })
      parts.push({ expr: field.str, value: str, descending: key.descending })
    })
    parts.push({ expr: `id${dialect.binary}`, value: after.id, descending: false })
    const alternatives = parts.map((part, i) =>
      sql.and([
        ...parts.slice(0, i).map((earlier) => sql`${sql.literal(earlier.expr)} = ${earlier.value}`),
        sql`${sql.literal(part.expr)} ${sql.literal(part.descending ? "<" : ">")} ${part.value}`
      ])
    )
    return sql.or(alternatives)
  }

  const orderSql = (query: DocumentQuery.NormalizedQuery): string =>
    [
      ...query.orderBy.flatMap((key) => {
        const field = dialect.field(key.path)
        const direction = key.descending ? "DESC" : "ASC"
        return [`${field.rank} ${direction}`, `${field.num} ${direction}`, `${field.str} ${direction}`]
      }),
      `id${dialect.binary} ASC`
    ].join(", ")

  const whereSql = (collection: string, query: DocumentQuery.NormalizedQuery) =>
    sql.and([sql`collection = ${collection}`, ...query.predicates.map(predicateSql)])

  const findPage: DocumentStore.DocumentStoreShape["findPage"] = (collection, query) =>
    Effect.gen(function*() {
      const normalized = yield* DocumentQuery.normalize(collection.name, query)
      yield* ensureIndexes(collection).pipe(Effect.catchTag("SqlError", unavailable("findPage")))
      const size = normalized.limit ?? 100
      const rows = yield* sql<{ id: string; version: unknown; data: unknown }>`SELECT id, version, data
        FROM strata_documents WHERE ${whereSql(collection.name, normalized)} AND ${afterCursor(normalized)}
        ORDER BY ${sql.literal(orderSql(normalized))} LIMIT ${size + 1}`.pipe(
        Effect.catchTag("SqlError", unavailable("findPage"))
      )
      const page = rows.slice(0, size).map((row) => ({ ...row, data: dialect.decodeJson(row.data) }))
      const documents = yield* Effect.forEach(page, (row) =>
        DocumentCodec.decode(collection, row.id, big(row.version), row.data))
      const last = page[page.length - 1]
      const cursor = rows.length > size && last !== undefined
        ? Option.some(
          DocumentQuery.encodeCursor(normalized.fingerprint, {
            values: DocumentQuery.sortValues(last.data, normalized),
            id: last.id
          })
        )
        : Option.none()
      return { documents, cursor }
    })

  const find: DocumentStore.DocumentStoreShape["find"] = (collection, query) =>
    DocumentQuery.pages(collection, query, pageSize, findPage)

  const count: DocumentStore.DocumentStoreShape["count"] = (collection, query) =>
    Effect.gen(function*() {
      const normalized = yield* DocumentQuery.normalize(collection.name, { where: query?.where })
      const rows = yield* sql<{ total: unknown }>`SELECT count(*) AS total FROM strata_documents
        WHERE ${whereSql(collection.name, normalized)}`.pipe(Effect.catchTag("SqlError", unavailable("count")))
      return Number(rows[0]?.total ?? 0)
    })

  const documentStore = Tracing.documentStore({
    backend,
    get,
    put,
    delete: remove,
    find,
    findPage,
    count
  })

  return { eventStore, documentStore, signal, committed } satisfies SqlStore
})

/**
 * Consumer checkpoints that commit in the same transaction as the handler's SQL: a projection
 * written through the store's SqlClient is updated exactly once per event, across crashes and
 * restarts (an interrupted batch rolls back together with its checkpoint).
 *
 * @category constructors
 * @since 0.1.0
 */
export const transactionalCheckpoints = (sql: SqlClient.SqlClient): Consumer.CheckpointStore => ({
  load: Consumer.storeCheckpoints.load,
  commit: (name, position, work) =>
    sql.withTransaction(
      Effect.tap(work, () => Effect.flatMap(EventStore.EventStore, (store) => store.saveCheckpoint(name, position)))
    ).pipe(
      Effect.catchIf(isSqlError, (error) =>
        Effect.fail(
          new StoreError.StoreUnavailable({ operation: "Consumer.commit", reason: error.reason._tag, cause: error })
        ))
    )
})

/**
 * @category models
 * @since 0.1.0
 */
export interface SqlStoreLayerOptions<R = never> extends SqlStoreOptions {
  /** Apply pending migrations when the layer starts. Default true. */
  readonly migrate?: boolean | undefined
  /**
   * Provide {@link transactionalCheckpoints} to consumers run with this layer. Default: true where
   * the database has transactions (not on D1).
   */
  readonly transactionalCheckpoints?: boolean | undefined
  /** Extra wiring once the store exists, in the layer's scope (PostgreSQL starts its listener here). */
  readonly onStart?: ((store: SqlStore) => Effect.Effect<void, never, R | Scope.Scope>) | undefined
}

/**
 * Both stores over the SqlClient in context, after applying migrations (unless `migrate: false`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R = never>(
  options: SqlStoreLayerOptions<R>
): Layer.Layer<EventStore.EventStore | DocumentStore.DocumentStore, SqlError, SqlClient.SqlClient | R> =>
  Layer.effectContext(Effect.gen(function*() {
    if (options.migrate ?? true) yield* Migrations.run(options.dialect)
    const store = yield* make(options)
    if (options.onStart !== undefined) yield* options.onStart(store)
    const sql = yield* SqlClient.SqlClient
    const context = Context.make(EventStore.EventStore, EventStore.EventStore.of(store.eventStore)).pipe(
      Context.add(DocumentStore.DocumentStore, DocumentStore.DocumentStore.of(store.documentStore))
    )
    return (options.transactionalCheckpoints ?? options.dialect.appendBatch === undefined)
      ? Context.add(context, Consumer.Checkpoints, transactionalCheckpoints(sql))
      : context
  }))
