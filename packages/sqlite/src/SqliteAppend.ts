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
import { ExpectedVersion } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import { DcbSql, StreamGuard } from "@strata/sql"
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
export const appendOne = (client: SqliteClient.SqliteClient) =>
(
  sql: Statement.Constructor,
  input: AppendOneInput
): Effect.Effect<AppendOneOutcome, SqlError> => {
  // DCB conditions, compiled once per append (their text inlines positions; their values are bound).
  const checks = input.conditions === undefined ? noChecks : input.conditions.flatMap((condition) => {
    const statement = DcbSql.firstConflict(sql, condition)
    return statement === undefined ? [] : [{ condition, compiled: statement.compile() }]
  })
  return client.writeSync("append", ({ prepare }): AppendOneOutcome => {
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
        continue
      }
      const tags = event.tags === undefined ? null : JSON.stringify(event.tags)
      if (event.bytes === undefined) {
        const tagged = prepare(insertTaggedEvent)
        tagged.setReadBigInts(true)
        rowid = tagged.run(
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
        ).lastInsertRowid
      } else {
        const binary = prepare(insertBinaryEvent)
        binary.setReadBigInts(true)
        rowid = binary.run(
          event.id,
          input.stream,
          version,
          input.category,
          event.type,
          event.data,
          event.metadata,
          createdAt,
          hash,
          tags,
          event.contentType ?? null,
          event.bytes
        ).lastInsertRowid
      }
      if (event.tags !== undefined) {
        const tag = prepare(insertTag)
        for (const name of event.tags) tag.run(name, rowid, event.type)
      }
    }
    const position = BigInt(rowid)
    prepare(moveStream).run(input.stream, lastVersion)
    return { _tag: "Ok", lastVersion, position }
  })
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
