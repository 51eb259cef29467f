/**
 * The rows Strata reads back, typed. Drivers hand integers over as `bigint` (PostgreSQL, SQLite with
 * safe integers), `number` (D1) or text, and booleans as `true`/`1`/`"t"`: the schemas here accept
 * each and decode to one type, so no other module coerces column values.
 *
 * Event rows are the exception: a read or a subscription decodes hundreds of thousands of them a
 * second, and a Schema decode costs ~0.85 us per row against ~0.01 us by hand (measured on this
 * project's 2-core machine, 8 columns), so {@link toRecorded} decodes them directly.
 *
 * @since 0.1.0
 */
import type { Event } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Hex from "effect/encoding/Hex"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type { Dialect } from "./Dialect.ts"

/**
 * A 64-bit integer column, whatever the driver hands over.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Int64 = Schema.Union([Schema.BigInt, Schema.Number, Schema.String]).pipe(
  Schema.decodeTo(
    Schema.BigInt,
    SchemaTransformation.transform({
      decode: (value) => typeof value === "bigint" ? value : BigInt(value),
      encode: (value) => value
    })
  )
)

/**
 * A boolean column: `true`/`false`, `1`/`0` (SQLite, D1) or `"t"`/`"f"`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Flag = Schema.Union([Schema.Boolean, Schema.Number, Schema.BigInt, Schema.String]).pipe(
  Schema.decodeTo(
    Schema.Boolean,
    SchemaTransformation.transform({
      decode: (value) => value === true || value === 1 || value === 1n || value === "1" || value === "t",
      encode: (value) => value
    })
  )
)

/**
 * A row of `strata_streams`: the stream's last version (-1 before its first event), its delete
 * flags and its retention rules.
 *
 * @category schemas
 * @since 0.1.0
 */
export const StreamRow = Schema.Struct({
  stream: Schema.String,
  last_version: Int64,
  deleted: Flag,
  tombstoned: Flag,
  truncate_before: Schema.NullOr(Int64),
  max_count: Schema.NullOr(Int64),
  max_age_ms: Schema.NullOr(Int64)
})

/**
 * @category models
 * @since 0.1.0
 */
export type StreamRow = typeof StreamRow.Type

/**
 * A row of `strata_documents` as reads select it.
 *
 * @category schemas
 * @since 0.1.0
 */
export const DocumentRow = Schema.Struct({ id: Schema.String, version: Int64, data: Schema.Unknown })

/**
 * A row of `strata_snapshots`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const SnapshotRow = Schema.Struct({
  version: Int64,
  state: Schema.Unknown,
  schema_version: Int64,
  created_at: Schema.Unknown
})

/**
 * Decodes driver rows with `schema`. Rows come from Strata's own schema, so a row that does not
 * decode is a bug, not an input error: it is a defect.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeAll = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(Schema.Array(schema))
  return <E, R>(rows: Effect.Effect<ReadonlyArray<unknown>, E, R>): Effect.Effect<ReadonlyArray<S["Type"]>, E, R> =>
    Effect.flatMap(rows, (raw) => Effect.orDie(decode(raw)))
}

/**
 * Decodes the first row, if any.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeFirst = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const all = decodeAll(schema)
  return <E, R>(rows: Effect.Effect<ReadonlyArray<unknown>, E, R>): Effect.Effect<S["Type"] | undefined, E, R> =>
    Effect.map(all(rows), (decoded) => decoded[0])
}

/**
 * The columns of an event row, as every event read selects them (a dialect may select another form
 * of one: see {@link columnsOf}).
 *
 * @category constants
 * @since 0.1.0
 */
export const eventColumns =
  "position, event_id, stream, version, type, data, metadata, created_at, tags, content_type, data_bytes"

/**
 * The select list of an event row on `dialect`: its `eventColumns` (the same columns in the same
 * order, some in a form its driver carries better: D1 selects `hex(data_bytes)`), else
 * {@link eventColumns}. {@link fromValues} decodes either.
 *
 * @category constants
 * @since 0.1.0
 */
export const columnsOf = (dialect: Dialect): string => dialect.eventColumns ?? eventColumns

/**
 * A row of `strata_events` as the driver hands it over.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventRow {
  readonly position: bigint | number | string
  readonly event_id: string
  readonly stream: string
  readonly version: bigint | number | string
  readonly type: string
  readonly data: unknown
  readonly metadata: unknown
  readonly created_at: unknown
  readonly tags?: unknown
  readonly content_type?: unknown
  readonly data_bytes?: unknown
}

const int64 = (value: bigint | number | string): bigint => typeof value === "bigint" ? value : BigInt(value)

/**
 * A binary event's bytes as the driver hands them over, as a `Uint8Array` of the caller's own:
 * node:sqlite gives a fresh `Uint8Array` per value (kept when `fresh`), the PostgreSQL client one that
 * may view its receive buffer (always copied), D1 an array of numbers or an `ArrayBuffer` (or hex
 * text, where the dialect selects `hex(data_bytes)`), PostgreSQL's text format `\x` hex.
 *
 * @category decoding
 * @since 0.1.0
 */
export const bytesOf = (value: unknown, fresh = false): Uint8Array => {
  if (value instanceof Uint8Array) {
    // `fresh`: the driver makes a new array per value (node:sqlite); a plain one over a buffer of its
    // own is then the caller's already.
    return fresh && value.constructor === Uint8Array && value.byteOffset === 0 &&
        value.byteLength === value.buffer.byteLength
      ? value
      : new Uint8Array(value)
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0))
  if (Array.isArray(value)) return Uint8Array.from(value as ReadonlyArray<number>)
  if (typeof value === "string") {
    const decoded = Hex.decode(value.startsWith("\\x") ? value.slice(2) : value)
    if (decoded._tag === "Success") return decoded.success
    throw new Error(`a binary event's data_bytes came back as text that is not hex`)
  }
  throw new Error(`a binary event's data_bytes came back as ${typeof value}`)
}

// A binary row (content_type set) carries its bytes in data_bytes; its data column holds JSON null.
const binary = (event: Event.RecordedEvent, contentType: unknown, bytes: unknown): Event.RecordedEvent => ({
  ...event,
  data: bytesOf(bytes),
  contentType: contentType as string
})

// An event without tags has NULL there, and no `tags` field once read.
const withTags = (event: Event.RecordedEvent, dialect: Dialect, tags: unknown): Event.RecordedEvent => {
  if (tags === null || tags === undefined) return event
  return { ...event, tags: dialect.decodeJson(tags) as ReadonlyArray<string> }
}

/** The metadata of an event written without any, shared by every such event read: frozen. */
const emptyMetadata: Event.EventMetadata = Object.freeze({})

const isEmptyObject = (value: unknown): boolean => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  for (const _ in value) return false
  return Object.getPrototypeOf(value) === Object.prototype
}

// Flat: every value a string, number, boolean or null, so freezing the object freezes all of it.
const isFlat = (value: unknown): value is Event.EventMetadata => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  for (const key in value) {
    const field = (value as Record<string, unknown>)[key]
    if (typeof field === "object" && field !== null) return false
  }
  return true
}

/**
 * An event's metadata from its column. Metadata repeats from event to event (`{}` without any,
 * `{"schemaVersion":1}` from a codec): a text seen twice in a row is parsed once more, frozen, and
 * that one object is then every following event's with the same text, instead of a parse and an
 * object per event (a read allocates ~2.3 KB per event; the young generation it fills is a rebuild's
 * heap peak). Frozen, so no event can change another's (the type is read-only already); only flat
 * metadata is shared (frozen all through), and text that changes every event (a trace id) costs a
 * comparison. PostgreSQL's driver parses the column itself: there only an empty object is replaced.
 */
const metadataReader = (dialect: Dialect) => {
  let sharedText: string | undefined
  let shared: Event.EventMetadata = emptyMetadata
  let previous: string | undefined
  return (value: unknown): Event.EventMetadata => {
    if (typeof value !== "string") {
      return isEmptyObject(value)
        ? emptyMetadata
        : dialect.decodeJson(value) as Event.EventMetadata
    }
    if (value === sharedText) return shared
    if (value === "{}") return emptyMetadata
    const parsed = dialect.decodeJson(value)
    if (value !== previous || value.length > 256 || !isFlat(parsed)) {
      previous = value
      return parsed as Event.EventMetadata
    }
    sharedText = value
    shared = Object.freeze(parsed)
    return shared
  }
}

/**
 * Decodes an event row read as values, in {@link eventColumns} order. Event reads ask the driver for
 * arrays rather than objects: no property names per row (node:sqlite builds each row object key by
 * key, and the client then copies it), which made reads ~35% faster per event on SQLite.
 *
 * Metadata that repeats from row to row is one frozen object shared by those events: read-only,
 * as its type says.
 *
 * @category decoding
 * @since 0.1.0
 */
export const fromValues = (dialect: Dialect) => {
  const metadataOf = metadataReader(dialect)
  return (row: ReadonlyArray<unknown>): Event.RecordedEvent => {
    if (row[9] !== null && row[9] !== undefined) return binaryFromValues(dialect, metadataOf, row)
    const event: Event.RecordedEvent = {
      id: row[1] as string,
      stream: row[2] as string,
      version: int64(row[3] as bigint | number | string),
      position: int64(row[0] as bigint | number | string),
      type: row[4] as string,
      data: dialect.decodeJson(row[5]),
      metadata: metadataOf(row[6]),
      createdAt: dialect.decodeTime(row[7])
    }
    return row[8] === null || row[8] === undefined ? event : withTags(event, dialect, row[8])
  }
}

// A binary row, built in one object (its data column holds JSON null: not parsed).
const binaryFromValues = (
  dialect: Dialect,
  metadataOf: (value: unknown) => Event.EventMetadata,
  row: ReadonlyArray<unknown>
): Event.RecordedEvent => {
  const event: Event.RecordedEvent = {
    id: row[1] as string,
    stream: row[2] as string,
    version: int64(row[3] as bigint | number | string),
    position: int64(row[0] as bigint | number | string),
    type: row[4] as string,
    data: bytesOf(row[10], dialect.name === "sqlite"),
    metadata: metadataOf(row[6]),
    createdAt: dialect.decodeTime(row[7]),
    contentType: row[9] as string
  }
  return row[8] === null || row[8] === undefined ? event : withTags(event, dialect, row[8])
}

/**
 * Decodes an event row (by hand: see the module note).
 *
 * @category decoding
 * @since 0.1.0
 */
export const toRecorded = (dialect: Dialect) => (row: EventRow): Event.RecordedEvent => {
  const event = withTags(
    {
      id: row.event_id,
      stream: row.stream,
      version: int64(row.version),
      position: int64(row.position),
      type: row.type,
      data: dialect.decodeJson(row.data),
      metadata: dialect.decodeJson(row.metadata) as Event.EventMetadata,
      createdAt: dialect.decodeTime(row.created_at)
    },
    dialect,
    row.tags
  )
  return row.content_type === null || row.content_type === undefined
    ? event
    : binary(event, row.content_type, row.data_bytes)
}
