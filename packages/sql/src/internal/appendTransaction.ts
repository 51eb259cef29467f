// The transactional path (interactive transactions: PostgreSQL, SQLite): lock the streams' rows,
// check every part against them, insert the events, move the stream rows, write the document a put
// carries, run the work that must commit with the append, and commit.
import { type Event, type EventStore, ExpectedVersion, StoreError, StreamName } from "@strata/core"
import { AppendPlan, Inputs } from "@strata/core/backend"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Dcb from "../DcbSql.ts"
import type { Transactional } from "../Dialect.ts"
import * as Rows from "../Rows.ts"
import * as StreamGuard from "../StreamGuard.ts"
import type { AppendContext, Atomically, Plan } from "./appendContext.ts"

/** One stream's part, checked, with the version its first event takes. */
interface Part {
  readonly plan: Plan
  readonly first: bigint
}

const decodeStreams = Rows.decodeAll(Rows.StreamRow)

// Splits rows so no INSERT binds more parameters than the dialect allows.
const chunks = <A>(rows: ReadonlyArray<A>, perRow: number, maxParams: number) => {
  const size = Math.max(1, Math.floor(maxParams / perRow))
  const out: Array<NonEmptyReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size) as unknown as NonEmptyReadonlyArray<A>)
  return out
}

// Locks the rows of every stream written, then checks each part against its row.
const lockAndCheck = (ctx: AppendContext, write: Transactional, plans: ReadonlyArray<Plan>) =>
  Effect.gen(function*() {
    const locked = yield* decodeStreams(write.lockStreams(ctx.sql, plans.map((plan) => plan.request.stream)))
    const byName = new Map(locked.map((row) => [row.stream, row]))
    const parts: Array<Part> = []
    for (const plan of plans) {
      const { stream } = plan.request
      const row = byName.get(stream)
      if (StreamGuard.tombstoned(row)) return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
      const state = StreamGuard.state(row)
      const conflict = ExpectedVersion.check(stream, plan.request.expected, state)
      if (conflict !== undefined) return yield* conflict
      parts.push({ plan, first: (state.lastVersion ?? -1n) + 1n })
    }
    return parts
  })

// Inserts the events, keeping the position of each stream's last one for its result.
const insertEvents = (ctx: AppendContext, parts: ReadonlyArray<Part>, now: number) =>
  Effect.gen(function*() {
    const { dialect, sql } = ctx
    const createdAt = dialect.time(now)
    // PostgreSQL computes stream_hash itself (a generated column); SQLite is given it.
    const withHash = sql.onDialectOrElse({ pg: () => false, orElse: () => true })
    // Binary events carry two more columns; an append of JSON events only binds what it always did.
    const binary = parts.some(({ plan }) => plan.prepared.some((event) => event.bytes !== undefined))
    const eventRows = parts.flatMap(({ first, plan }) => {
      const { stream } = plan.request
      const hash = withHash ? { stream_hash: Inputs.streamHash(stream) } : {}
      return plan.prepared.map((event, i) => ({
        event_id: event.id,
        stream,
        version: first + BigInt(i),
        category: StreamName.category(stream),
        type: event.type,
        data: event.data,
        metadata: event.metadata,
        created_at: createdAt,
        tags: event.tags === undefined ? null : JSON.stringify(event.tags),
        ...hash,
        ...(binary ? { content_type: event.contentType ?? null, data_bytes: event.bytes ?? null } : {})
      }))
    })
    const positions = new Map<string, bigint>()
    const positionOf = new Map<string, bigint>()
    for (const chunk of chunks(eventRows, binary ? 12 : 10, dialect.maxParams)) {
      const inserted = yield* sql<
        { event_id: string; stream: string; position: bigint | number }
      >`INSERT INTO strata_events ${sql.insert(chunk)} RETURNING event_id, stream, position`
      for (const row of inserted) {
        const position = BigInt(row.position)
        positionOf.set(row.event_id, position)
        if (position > (positions.get(row.stream) ?? -1n)) positions.set(row.stream, position)
      }
    }
    return { eventRows, positions, positionOf }
  })

const moveStreams = (ctx: AppendContext, parts: ReadonlyArray<Part>) =>
  Effect.gen(function*() {
    const { dialect, sql } = ctx
    const streamRows = parts.map(({ first, plan }) => ({
      stream: plan.request.stream,
      last_version: first + BigInt(plan.prepared.length) - 1n,
      deleted: false
    }))
    for (const chunk of chunks(streamRows, 3, dialect.maxParams)) {
      yield* sql`INSERT INTO strata_streams ${
        sql.insert(chunk)
      } ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version, deleted = excluded.deleted`
    }
  })

// The events just inserted, as readers will see them (only when work must run before the commit):
// built from what was written and the positions the insert returned, not read back (a round trip).
const recorded = (parts: ReadonlyArray<Part>, positionOf: ReadonlyMap<string, bigint>, now: number) => {
  const createdAt = new Date(now)
  const events: Array<Event.RecordedEvent> = []
  for (const { first, plan } of parts) {
    plan.prepared.forEach((event, i) => {
      events.push({
        id: event.id,
        stream: plan.request.stream,
        version: first + BigInt(i),
        position: positionOf.get(event.id)!,
        type: event.type,
        data: event.bytes === undefined ? JSON.parse(event.data) : new Uint8Array(event.bytes),
        metadata: JSON.parse(event.metadata),
        createdAt,
        ...(event.tags === undefined ? {} : { tags: event.tags }),
        ...(event.contentType === undefined ? {} : { contentType: event.contentType })
      })
    })
  }
  return events.sort((a, b) => a.position < b.position ? -1 : a.position > b.position ? 1 : 0)
}

// DCB: lock what the append's tags and conditions touch (where the database has concurrent writers),
// then check each condition against what is committed now. Under those locks no append that could
// fail a condition can commit between the check and this commit (see the PostgreSQL README).
const checkConditions = (ctx: AppendContext, write: Transactional, plans: ReadonlyArray<Plan>) =>
  Effect.gen(function*() {
    const conditions = AppendPlan.conditions(plans)
    if (write.lockForDcb !== undefined) {
      yield* write.lockForDcb(
        ctx.sql,
        Dcb.lockKeys(plans.flatMap((plan) => plan.prepared.map((event) => event.tags)), conditions)
      )
    }
    for (const condition of conditions) {
      const statement = Dcb.firstConflict(ctx.sql, condition)
      if (statement === undefined) continue
      const [row] = yield* statement
      if (row !== undefined) return yield* conditionFailed(ctx, condition, row)
    }
  })

/** The error of a condition that `row` (a `Dcb.ConflictRow`) fails. */
export const conditionFailed = (
  ctx: { readonly dialect: { readonly decodeJson: (value: unknown) => unknown } },
  condition: EventStore.AppendCondition,
  row: Dcb.ConflictRow
) =>
  new StoreError.AppendConditionFailed({
    ...(condition.after === undefined ? {} : { after: condition.after }),
    position: BigInt(row.position as bigint),
    stream: row.stream,
    type: row.type,
    tags: row.tags === null || row.tags === undefined ? [] : ctx.dialect.decodeJson(row.tags) as Array<string>
  })

// One row per tag of each event written, with its position (from the insert) and type.
const insertTags = (ctx: AppendContext, parts: ReadonlyArray<Part>, positionOf: ReadonlyMap<string, bigint>) =>
  Effect.gen(function*() {
    const rows: Array<{ tag: string; position: bigint; type: string }> = []
    for (const { plan } of parts) {
      for (const event of plan.prepared) {
        if (event.tags === undefined) continue
        const position = positionOf.get(event.id)!
        for (const tag of event.tags) rows.push({ tag, position, type: event.type })
      }
    }
    for (const chunk of chunks(rows, 3, ctx.dialect.maxParams)) {
      yield* ctx.sql`INSERT INTO strata_event_tags ${ctx.sql.insert(chunk)}`
    }
  })

export const inTransaction = (ctx: AppendContext, write: Transactional): Atomically => (plans, now, document) =>
  ctx.transaction(
    "append",
    Effect.gen(function*() {
      const dcb = AppendPlan.usesDcb(plans)
      if (dcb) yield* checkConditions(ctx, write, plans)
      const parts = yield* lockAndCheck(ctx, write, plans)
      yield* write.beforeInsert(ctx.sql)
      const { positionOf, positions } = yield* insertEvents(ctx, parts, now)
      if (dcb) yield* insertTags(ctx, parts, positionOf)
      yield* moveStreams(ctx, parts)
      const documentVersion = document === undefined
        ? undefined
        : yield* ctx.documents.writeDocument(document.collection, document.id, document.json, document.expected)
      const hook = ctx.beforeCommit?.current
      if (hook !== undefined) yield* hook(recorded(parts, positionOf, now))
      // Subscribers in this process wake once the outermost transaction has committed.
      yield* ctx.sql.afterCommit(ctx.wake)
      const results = parts.map(({ first, plan }): EventStore.AppendResult => ({
        stream: plan.request.stream,
        nextExpectedVersion: first + BigInt(plan.prepared.length) - 1n,
        position: positions.get(plan.request.stream)!
      }))
      return { results, documentVersion }
    })
  )
