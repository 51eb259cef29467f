/**
 * The single-stream append of the embedded backend as one synchronous write on the connection
 * ({@link SqliteClient.SqliteClient.writeSync}): read the stream row, check, check the DCB conditions,
 * insert the events (their tag rows, a binary event's content type and bytes), move the row, all
 * inside one `BEGIN IMMEDIATE` with statements prepared once. The same statements and
 * the same checks (`ExpectedVersion`, `StreamGuard`) as the shared transactional path; what it saves
 * is the Effect work around each statement (spans, compiling, fibers), which costs more than SQLite
 * itself on a one-event append. The conformance suite runs over both paths.
 *
 * @since 0.1.0
 */
import { type EventStore, ExpectedVersion } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import { DcbSql, type SqlStore, StreamGuard } from "@strata/sql"
import type { AppendOneInput, AppendOneOutcome, Dialect, Transactional } from "@strata/sql/Dialect"
import type * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import type * as SqliteClient from "./SqliteClient.ts"

const selectStream = "SELECT last_version, deleted, tombstoned FROM strata_streams WHERE stream = ?"
const insertEvent =
  "INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at, stream_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
const insertTaggedEvent =
  "INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at, stream_hash, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
// A binary event: its bytes in data_bytes (bound as a Uint8Array: a BLOB), its data column JSON null.
const insertBinaryEvent =
  "INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at, stream_hash, tags, content_type, data_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
const insertTag = "INSERT INTO strata_event_tags (tag, position, type) VALUES (?, ?, ?)"
const storedId = "SELECT 1 AS stored FROM strata_events WHERE event_id = ?"
const moveStream =
  "INSERT INTO strata_streams (stream, last_version, deleted) VALUES (?, ?, 0) ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version, deleted = 0"

const maxSafe = BigInt(Number.MAX_SAFE_INTEGER)

const noChecks: ReadonlyArray<never> = []

// A condition's check statement, compiled once per query shape: its text and, for each of its
// parameters, which of the condition's values it binds (see `shapeOf` and `valuesOf`).
interface CompiledCheck {
  readonly text: string
  readonly slots: ReadonlyArray<number>
}

// What a condition's check text depends on: each item's numbers of types and tags (its values are
// bound) and whether it has an `after`. Not cacheable past `DcbSql.maxBoundSubqueries` subqueries,
// where positions are inlined into the text: `undefined` then.
const shapeOf = (condition: EventStore.AppendCondition): string | undefined => {
  let key = condition.after === undefined ? "-" : "a"
  let subqueries = 0
  for (const item of condition.failIfEventsMatch) {
    const types = item.types?.length
    const tags = item.tags?.length
    key += `|${types ?? "*"},${tags ?? "*"}`
    if (types === 0) continue
    subqueries += (tags ?? 0) === 0 && types !== undefined ? types : 1
  }
  return subqueries > DcbSql.maxBoundSubqueries ? undefined : key
}

// A condition's values in one fixed order (every item's types, then its tags, then the first
// position the check reads); a compiled shape picks its parameters from them by index.
const valuesOf = (condition: EventStore.AppendCondition): Array<unknown> => {
  const values: Array<unknown> = []
  for (const item of condition.failIfEventsMatch) {
    if (item.types !== undefined) { for (const type of item.types) values.push(type) }
    if (item.tags !== undefined) { for (const tag of item.tags) values.push(tag) }
  }
  if (condition.after !== undefined) values.push(condition.after + 1n)
  return values
}

// Compiles the shape of `condition` with a distinct stand-in for each value, and records which value
// each parameter binds; undefined if a parameter is not one of them (then it is compiled per append).
const compileShape = (
  sql: Statement.Constructor,
  condition: EventStore.AppendCondition
): CompiledCheck | undefined => {
  let n = 0
  const standIn = (): string => `\u0000${n++}`
  const template: EventStore.AppendCondition = {
    failIfEventsMatch: condition.failIfEventsMatch.map((item) => ({
      ...(item.types === undefined ? {} : { types: item.types.map(standIn) }),
      ...(item.tags === undefined ? {} : { tags: item.tags.map(standIn) })
    })),
    ...(condition.after === undefined ? {} : { after: -(1n << 62n) })
  }
  const statement = DcbSql.firstConflict(sql, template)
  if (statement === undefined) return undefined
  const values = valuesOf(template)
  const [text, params] = statement.compile()
  const slots: Array<number> = []
  for (const param of params) {
    const slot = values.indexOf(param)
    if (slot < 0) return undefined
    slots.push(slot)
  }
  return { text, slots }
}

// Compiled check shapes kept per client, least recently made dropped first past this many.
const maxShapes = 100

interface StreamColumns {
  readonly last_version: bigint
  readonly deleted: bigint
  readonly tombstoned: bigint
}

/**
 * `Transactional.appendOne` over a `SqliteClient`: one atomic synchronous write per append.
 *
 * @category constructors
 * @since 0.1.0
 */
export const appendOne = (client: SqliteClient.SqliteClient) => {
  // Building and compiling a check statement costs ~5 us an append; its text depends only on the
  // condition's shape, so it is compiled once per shape and its parameters picked from the values.
  const shapes = new Map<string, CompiledCheck | null>()
  const check = (
    sql: Statement.Constructor,
    condition: EventStore.AppendCondition
  ): readonly [string, ReadonlyArray<unknown>] | undefined => {
    if (condition.failIfEventsMatch.length === 0) return undefined
    const key = shapeOf(condition)
    let compiled = key === undefined ? null : shapes.get(key)
    if (compiled === undefined && key !== undefined) {
      compiled = compileShape(sql, condition) ?? null
      if (shapes.size >= maxShapes) shapes.delete(shapes.keys().next().value!)
      shapes.set(key, compiled)
    }
    if (compiled === null || compiled === undefined) return DcbSql.firstConflict(sql, condition)?.compile()
    const values = valuesOf(condition)
    return [compiled.text, compiled.slots.map((slot) => values[slot])]
  }
  return (
    sql: Statement.Constructor,
    input: AppendOneInput,
    then?: Then
  ): Effect.Effect<AppendOneOutcome, SqlError> =>
    appendWith(
      client,
      input,
      input.conditions === undefined ? noChecks : input.conditions.flatMap((condition) => {
        const compiled = check(sql, condition)
        return compiled === undefined ? [] : [{ condition, compiled }]
      }),
      then
    )
}

// Work run in the append's write once its events and stream row are written (see `appendSync`).
type Then = (first: bigint, positions: ReadonlyArray<bigint>, connection: SqliteClient.SyncConnection) => void

const appendWith = (
  client: SqliteClient.SqliteClient,
  input: AppendOneInput,
  checks: ReadonlyArray<{
    readonly condition: EventStore.AppendCondition
    readonly compiled: readonly [string, ReadonlyArray<unknown>]
  }>,
  then: Then | undefined
): Effect.Effect<AppendOneOutcome, SqlError> => {
  return client.writeSync("append", (connection): AppendOneOutcome => {
    const { prepare } = connection
    const select = prepare(selectStream)
    select.setReadBigInts(true)
    const columns = select.get(input.stream) as StreamColumns | undefined
    const row = columns === undefined ? undefined : {
      stream: input.stream,
      last_version: columns.last_version,
      deleted: columns.deleted !== 0n,
      tombstoned: columns.tombstoned !== 0n,
      // Retention does not take part in the check.
      truncate_before: null,
      max_count: null,
      max_age_ms: null
    }
    if (StreamGuard.tombstoned(row)) return { _tag: "Tombstoned" }
    const state = StreamGuard.state(row)
    if (!ExpectedVersion.matches(input.expected, state)) {
      // Whether this may be an earlier identical append replayed: only if one of its ids is stored.
      const stored = prepare(storedId)
      const replay = input.events.some((event) => stored.get(event.id) !== undefined)
      return { _tag: "Conflict", actual: ExpectedVersion.actualVersion(state), replay }
    }
    // Checked inside the write (BEGIN IMMEDIATE: no other writer), before anything is inserted.
    for (const { compiled: [text, params], condition } of checks) {
      const found = prepare(text).get(...(params as Array<string>)) as
        | { position: unknown; stream: string; type: string; tags: unknown }
        | undefined
      if (found !== undefined) return { _tag: "ConditionFailed", condition, row: found }
    }
    const first = (state.lastVersion ?? -1n) + 1n
    const lastVersion = first + BigInt(input.events.length) - 1n
    const insert = prepare(insertEvent)
    // Versions bind as numbers while below 2^53 (faster than BigInts); the rowid comes back as a
    // BigInt, exact at any size (as a number it would silently round above 2^53).
    const small = lastVersion <= maxSafe
    insert.setReadBigInts(true)
    const base = small ? Number(first) : 0
    const createdAt = input.createdAt as number
    const hash = Inputs.streamHash(input.stream)
    // Each event's position, for the work that runs in this write.
    const positions: Array<bigint> | undefined = then === undefined ? undefined : []
    let rowid: number | bigint = 0n
    for (let i = 0; i < input.events.length; i++) {
      const event = input.events[i]
      const version = small ? base + i : first + BigInt(i)
      if (event.bytes === undefined && event.tags === undefined) {
        rowid = insert.run(
          event.id,
          input.stream,
          version,
          input.category,
          event.type,
          event.data,
          event.metadata,
          createdAt,
          hash
        ).lastInsertRowid
        positions?.push(BigInt(rowid))
        continue
      }
      const tags = event.tags === undefined ? null : JSON.stringify(event.tags)
      // A tagged event binds its tags; a binary one its content type and bytes as well.
      const statement = prepare(event.bytes === undefined ? insertTaggedEvent : insertBinaryEvent)
      statement.setReadBigInts(true)
      const row = [
        event.id,
        input.stream,
        version,
        input.category,
        event.type,
        event.data,
        event.metadata,
        createdAt,
        hash,
        tags
      ] as const
      rowid = (event.bytes === undefined
        ? statement.run(...row)
        : statement.run(...row, event.contentType ?? null, event.bytes)).lastInsertRowid
      positions?.push(BigInt(rowid))
      if (event.tags !== undefined) {
        const tag = prepare(insertTag)
        for (const name of event.tags) tag.run(name, rowid, event.type)
      }
    }
    const position = BigInt(rowid)
    prepare(moveStream).run(input.stream, lastVersion)
    if (then !== undefined) then(first, positions!, connection)
    return { _tag: "Ok", lastVersion, position }
  })
}

/**
 * The single-stream append of {@link appendOne} with more work in the same synchronous write
 * (`SqlStore`'s `SyncAppend`): an append that inline projections act on runs them here, over
 * documents read and written by `statements` on the same connection, inside the same
 * `BEGIN IMMEDIATE` ... `COMMIT` as its events.
 *
 * @category constructors
 * @since 0.1.0
 */
export const appendSync = (client: SqliteClient.SqliteClient): SqlStore.SyncAppend => {
  const one = appendOne(client)
  // The connection `writeSync` hands its function (the client's, the same every time); `statements`
  // run only from inside `then`, so inside a write.
  let connection: SqliteClient.SyncConnection | undefined
  const all = (text: string, params: ReadonlyArray<string | bigint | number | null>) => {
    const statement = connection!.prepare(text)
    statement.setReadBigInts(true)
    return statement.all(...params) as Array<Record<string, unknown>>
  }
  return {
    statements: { all },
    append: (input, then) =>
      one(client, input, (first, positions, sync) => {
        connection = sync
        then(first, positions)
      })
  }
}

/**
 * The SQLite dialect with its single-stream appends on {@link appendOne}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const dialect = (base: Dialect, client: SqliteClient.SqliteClient): Dialect => {
  if (base.write._tag !== "Transactional") return base
  const write: Transactional = {
    ...base.write,
    appendOne: appendOne(client),
    appendOneDcb: () => true,
    appendOneBinary: true
  }
  return { ...base, write }
}
