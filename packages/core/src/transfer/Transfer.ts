/**
 * Moving events between stores: out of one into a file of lines, from a file into another, or
 * straight from store to store, with progress and a final verification.
 *
 * **The line format** (NDJSON, UTF-8, one event per line, in the source's global order):
 *
 * ```json
 * {"stream":"cart-1","version":"0","id":"0193…","type":"ItemAdded","schemaVersion":2,"time":"2026-12-04T20:57:46.123Z","position":"17","data":{…},"metadata":{…}}
 * ```
 *
 * - `stream`, `id` (a UUID), `type`: as stored.
 * - `version`, `position`: decimal strings (64-bit integers do not fit a JSON number). `position`
 *   is the source's and informational: the target gives each event its own position.
 * - `schemaVersion`: the schema version a typed codec wrote the data with (a copy of
 *   `metadata.schemaVersion`, present only when that is).
 * - `time`: when the source stored the event (ISO 8601). The target stamps its own time: the
 *   store contract takes no time on append.
 * - `data`, `metadata`: the JSON as stored, byte for byte.
 * - `tags`: the event's DCB tags, after `metadata`, present only when it has any. A target without
 *   DCB (KurrentDB) refuses tagged events with `Unsupported`.
 * - A binary event (bytes, not JSON) has no `data`: `contentType` (its media type) and `bytes` (the
 *   bytes in standard base64, with padding: a JSON line cannot carry raw bytes) take its place:
 *   `…,"contentType":"image/png","bytes":"iVBORw0K…","metadata":{…}`. Lines of JSON events are as
 *   before, so files written before binary events existed import unchanged; an importer that predates
 *   them refuses a binary line (`"data" is missing`) rather than load it changed.
 *
 * `time` and `position` are written by every export and read when present (then checked), but a
 * line may leave them out: the target restores neither.
 *
 * **Writing** ({@link load}) groups the events into batches (500 by default) and writes each batch
 * with one atomic `appendMany` (one `append` per stream where the backend has no multi-stream
 * append), each stream's part expecting exactly the version before its first event, so versions
 * are the source's, never renumbered: inside a stream every event must carry the version after the
 * one before it, and an input with a gap, a repeat or a step back fails with
 * {@link InvalidSequence} (its line) before anything of that batch is written. A stream's first
 * event may start anywhere: the target checks it against what it holds. Inside a batch events are
 * grouped by stream (per-stream order is kept; the global order is kept between batches). Event
 * ids make it idempotent: a batch that was already written is a replay that writes nothing (counted
 * in {@link Progress.skipped}), so a load interrupted by a crash is resumed by running it again on
 * the same input. Memory stays flat in events: one batch at a time, plus each stream's last version.
 *
 * **Verifying** ({@link verify}) reads both stores and compares, per stream, the event count and a
 * 64-bit checksum over ids, versions, types, data, metadata and tags (not positions or times).
 *
 * Only events travel: consumer checkpoints, snapshots, documents, soft deletes, tombstones and
 * retention rules do not.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Base64 from "effect/encoding/Base64"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Event from "../Event.ts"
import type { RecordedEvent } from "../Event.ts"
import type { AppendError, AppendRequest, AppendResult, EventFilter, EventStoreShape } from "../EventStore.ts"
import * as ExpectedVersion from "../ExpectedVersion.ts"
import type { InvalidArgument, StoreUnavailable, Unsupported } from "../StoreError.ts"

/**
 * One event as it travels: everything a store keeps about it.
 *
 * @category models
 * @since 0.1.0
 */
export interface ExportedEvent {
  readonly stream: string
  readonly version: bigint
  readonly id: string
  readonly type: string
  readonly schemaVersion: number | undefined
  /** When the source stored it; undefined when a line leaves it out (the target stamps its own). */
  readonly time: Date | undefined
  /** The source's position (the target assigns its own); undefined when a line leaves it out. */
  readonly position: bigint | undefined
  /** JSON data, or a binary event's bytes (a `Uint8Array`, then with {@link ExportedEvent.contentType}). */
  readonly data: unknown
  readonly metadata: Record<string, unknown>
  /** A binary event's content type; absent on JSON events. */
  readonly contentType?: string | undefined
  /** The event's DCB tags; absent when it has none (a line then has no `"tags"`). */
  readonly tags?: ReadonlyArray<string> | undefined
  /** The line it was read from (1-based), when it was read by {@link decodeLine} / {@link parseLines}. */
  readonly line?: number | undefined
}

/**
 * A line that is not an event of the line format.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidLine extends Schema.TaggedError<InvalidLine>("@strata/core/Transfer/InvalidLine")(
  "InvalidLine",
  { line: Schema.Number, detail: Schema.String }
) {
  override get message(): string {
    return `line ${this.line} is not a Strata event line: ${this.detail}`
  }
}

/**
 * An input whose versions inside a stream are not consecutive: a gap (an export filtered by type),
 * a repeat or a step back. {@link load} refuses it rather than renumber the stream, before writing
 * anything of the batch the event is in. `line` is the event's line when it was read from text;
 * `event` its number in the input (1-based) otherwise.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidSequence extends Schema.TaggedError<InvalidSequence>("@strata/core/Transfer/InvalidSequence")(
  "InvalidSequence",
  {
    line: Schema.optional(Schema.Number),
    event: Schema.Number,
    stream: Schema.String,
    version: Schema.BigInt,
    expected: Schema.BigInt
  }
) {
  override get message(): string {
    const where = this.line === undefined ? `event ${this.event}` : `line ${this.line}`
    const what = this.version < this.expected
      ? this.version === this.expected - 1n ? "a repeat" : "a step back"
      : "a gap"
    return `${where}: stream ${this.stream} has version ${this.version} where ${this.expected} was expected (${what}: ` +
      `versions inside a stream must follow each other; nothing of this batch was written)`
  }
}

/**
 * How far a load has come.
 *
 * @category models
 * @since 0.1.0
 */
export interface Progress {
  /** Events written (or found already written) so far. */
  readonly events: number
  /** Of those, the events found already written (an earlier run's: a replay that wrote nothing). */
  readonly skipped: number
  /** Batches written so far. */
  readonly batches: number
  /** The source position of the last event written. */
  readonly position: bigint | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ExportOptions {
  readonly filter?: EventFilter | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface LoadOptions {
  /** Events per atomic write. Default 500. */
  readonly batchSize?: number | undefined
}

/**
 * @category errors
 * @since 0.1.0
 */
export type LoadError = AppendError | InvalidArgument | Unsupported | InvalidSequence | StoreUnavailable

/**
 * A stored event as it travels.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromRecorded = (event: RecordedEvent): ExportedEvent => ({
  stream: event.stream,
  version: event.version,
  id: event.id,
  type: event.type,
  schemaVersion: typeof event.metadata.schemaVersion === "number" ? event.metadata.schemaVersion : undefined,
  time: event.createdAt,
  position: event.position,
  data: event.data,
  metadata: event.metadata,
  ...(event.contentType === undefined ? {} : { contentType: event.contentType }),
  ...(event.tags === undefined ? {} : { tags: event.tags })
})

/**
 * An event's data in a JSON document: `{ data }` for a JSON event; for a binary event (its data a
 * `Uint8Array`) `{ contentType, bytes }`, the bytes in standard base64 with padding (JSON cannot carry
 * raw bytes, and an array of numbers would read back as JSON data).
 *
 * @category models
 * @since 0.1.0
 */
export type EncodedData =
  | { readonly data: unknown }
  | { readonly contentType: string; readonly bytes: string }

/**
 * An event's data as JSON carries it: the fields of a line of the format, which the web console's API
 * and `strata tail --json` use too (one encoder, so they cannot drift). `contentType` defaults to
 * `Event.defaultContentType`.
 *
 * @example
 * import { Event, Transfer } from "@strata/core"
 *
 * Transfer.encodeData({ data: { a: 1 } }) // { data: { a: 1 } }
 * Transfer.encodeData(Event.binary("Blob", Uint8Array.of(1, 2), { contentType: "image/png" }))
 * // { contentType: "image/png", bytes: "AQI=" }
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeData = (
  event: { readonly data: unknown; readonly contentType?: string | undefined }
): EncodedData =>
  event.data instanceof Uint8Array
    ? { contentType: event.contentType ?? Event.defaultContentType, bytes: Base64.encode(event.data) }
    : { data: event.data }

// The `data` part of a line: `"data":<json>`, or for a binary event `"contentType":…,"bytes":<base64>`.
const dataPart = (event: ExportedEvent): string => {
  const encoded = encodeData(event)
  return "data" in encoded
    ? `"data":${JSON.stringify(encoded.data)}`
    : `"contentType":${JSON.stringify(encoded.contentType)},"bytes":"${encoded.bytes}"`
}

/**
 * One event as a line of the format, without the line break (`time` and `position` left out when
 * the event has none).
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeLine = (event: ExportedEvent): string =>
  `{"stream":${JSON.stringify(event.stream)},"version":"${event.version}","id":${JSON.stringify(event.id)},"type":${
    JSON.stringify(event.type)
  }${event.schemaVersion === undefined ? "" : `,"schemaVersion":${event.schemaVersion}`}${
    event.time === undefined ? "" : `,"time":"${event.time.toISOString()}"`
  }${event.position === undefined ? "" : `,"position":"${event.position}"`},${dataPart(event)},"metadata":${
    JSON.stringify(event.metadata)
  }${event.tags === undefined ? "" : `,"tags":${JSON.stringify(event.tags)}`}}`

const integer = /^(0|[1-9][0-9]*)$/

/**
 * Reads one line of the format (`line` is its 1-based number, for the error).
 *
 * @category encoding
 * @since 0.1.0
 */
export const decodeLine = (text: string, line: number): Effect.Effect<ExportedEvent, InvalidLine> =>
  Effect.suspend(() => {
    const fail = (detail: string) => Effect.fail(new InvalidLine({ line, detail }))
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return fail("it is not JSON")
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("it is not a JSON object")
    const o = value as Record<string, unknown>
    for (const key of ["stream", "id", "type", "version"] as const) {
      if (typeof o[key] !== "string") return fail(`"${key}" is missing or not a string`)
    }
    if (!integer.test(o.version as string)) return fail(`"version" is not a non-negative integer`)
    // Neither is restored (the target stamps its own time and assigns its own positions): optional,
    // but checked when present.
    if (o.position !== undefined && (typeof o.position !== "string" || !integer.test(o.position))) {
      return fail(`"position" is not a non-negative integer`)
    }
    const time = o.time === undefined ? undefined : typeof o.time === "string" ? new Date(o.time) : null
    if (time === null || (time !== undefined && Number.isNaN(time.getTime()))) {
      return fail(`"time" is not an ISO 8601 date`)
    }
    let bytes: Uint8Array | undefined
    if (o.bytes !== undefined || o.contentType !== undefined) {
      if ("data" in o) return fail(`a line has either "data" (JSON) or "contentType" and "bytes" (binary), not both`)
      if (typeof o.contentType !== "string") return fail(`"contentType" is missing or not a string`)
      // Checked here too (the target's append would refuse it), so the error names the line.
      const problem = Event.contentTypeProblem(o.contentType)
      if (problem !== undefined) {
        return fail(
          `"contentType": ${problem}; a binary event's content type is a media type such as ${
            JSON.stringify(Event.defaultContentType)
          }`
        )
      }
      if (typeof o.bytes !== "string") return fail(`"bytes" is missing or not a string`)
      const decoded = Base64.decode(o.bytes)
      if (decoded._tag === "Failure") return fail(`"bytes" is not base64: ${decoded.failure.message}`)
      bytes = decoded.success
    } else if (!("data" in o)) return fail(`"data" is missing`)
    const metadata = o.metadata ?? {}
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      return fail(`"metadata" is not a JSON object`)
    }
    if (o.schemaVersion !== undefined && typeof o.schemaVersion !== "number") {
      return fail(`"schemaVersion" is not a number`)
    }
    // Checked in full by the target's append (Event.tagsProblem); here only its shape.
    if (o.tags !== undefined && !(Array.isArray(o.tags) && o.tags.every((tag) => typeof tag === "string"))) {
      return fail(`"tags" is not an array of strings`)
    }
    return Effect.succeed({
      stream: o.stream as string,
      version: BigInt(o.version as string),
      id: o.id as string,
      type: o.type as string,
      schemaVersion: o.schemaVersion as number | undefined,
      time,
      position: o.position === undefined ? undefined : BigInt(o.position as string),
      data: bytes ?? o.data,
      metadata: metadata as Record<string, unknown>,
      ...(bytes === undefined ? {} : { contentType: o.contentType as string }),
      ...(o.tags === undefined ? {} : { tags: o.tags as ReadonlyArray<string> }),
      line
    })
  })

/**
 * The events of a store in global order, as they travel.
 *
 * @category exporting
 * @since 0.1.0
 */
export const exportEvents = (
  store: EventStoreShape,
  options: ExportOptions = {}
): Stream.Stream<ExportedEvent, InvalidArgument | StoreUnavailable> =>
  Stream.map(store.readAll({ filter: options.filter }), fromRecorded)

/**
 * The events of a store as lines of the format, each ending with `\n`.
 *
 * @example
 * import { EventStore, Transfer } from "@strata/core"
 * import { Effect, Stream } from "effect"
 *
 * const lines = Effect.map(EventStore.EventStore, (store) => Transfer.exportLines(store))
 *
 * @category exporting
 * @since 0.1.0
 */
export const exportLines = (
  store: EventStoreShape,
  options: ExportOptions = {}
): Stream.Stream<string, InvalidArgument | StoreUnavailable> =>
  Stream.map(exportEvents(store, options), (event) => `${encodeLine(event)}\n`)

/**
 * Events from text in the line format (any chunking: lines are split here). Blank lines are skipped.
 *
 * @category importing
 * @since 0.1.0
 */
export const parseLines = <E, R>(text: Stream.Stream<string, E, R>): Stream.Stream<ExportedEvent, E | InvalidLine, R> =>
  text.pipe(
    Stream.splitLines,
    Stream.zipWithIndex,
    Stream.filter(([line]) => line.trim() !== ""),
    Stream.mapEffect(([line, index]) => decodeLine(line, index + 1))
  )

const toRequests = (batch: ReadonlyArray<ExportedEvent>): Array<AppendRequest> => {
  const byStream = new Map<string, { first: bigint; events: Array<ExportedEvent> }>()
  for (const event of batch) {
    const entry = byStream.get(event.stream)
    if (entry === undefined) byStream.set(event.stream, { first: event.version, events: [event] })
    else entry.events.push(event)
  }
  return Array.from(byStream, ([stream, { events, first }]) => ({
    stream,
    expected: first === 0n ? ExpectedVersion.noStream : ExpectedVersion.exact(first - 1n),
    events: events.map((event) => {
      const base = event.contentType === undefined
        ? { id: event.id, type: event.type, data: event.data, metadata: event.metadata }
        : { id: event.id, type: event.type, data: event.data, metadata: event.metadata, contentType: event.contentType }
      return event.tags === undefined ? base : { ...base, tags: event.tags }
    })
  }))
}

// Verbatim: the metadata is the source's, so the target adds no span or causation ids of its own.
// Succeeds with each stream part's result.
const writeBatch = (
  target: EventStoreShape,
  requests: ReadonlyArray<AppendRequest>
): Effect.Effect<ReadonlyArray<AppendResult>, LoadError> =>
  target.appendMany(requests).pipe(
    // A backend without multi-stream appends: one atomic append per stream, still idempotent.
    Effect.catchTag(
      "Unsupported",
      () =>
        Effect.forEach(
          requests,
          (request) => target.append(request.stream, request.events, { expected: request.expected })
        )
    ),
    Event.verbatim
  )

// Checks, before a batch is written, that each stream's versions follow the ones before (in this
// batch and the batches before it); `last` is updated as it goes (a failure ends the load).
const checkSequence = (
  batch: ReadonlyArray<ExportedEvent>,
  first: number,
  last: Map<string, bigint>
): InvalidSequence | undefined => {
  for (let i = 0; i < batch.length; i++) {
    const event = batch[i]
    const previous = last.get(event.stream)
    if (previous !== undefined && event.version !== previous + 1n) {
      return new InvalidSequence({
        line: event.line,
        event: first + i,
        stream: event.stream,
        version: event.version,
        expected: previous + 1n
      })
    }
    last.set(event.stream, event.version)
  }
  return undefined
}

// The target's last position before the load: a part whose result is at or before it was there
// already (a replay returns the original result), one after it was written now.
const headOf = (target: EventStoreShape): Effect.Effect<bigint | undefined, InvalidArgument | StoreUnavailable> =>
  Effect.map(
    Stream.runHead(target.readAll({ direction: "backwards", limit: 1 })),
    (last) => last._tag === "Some" ? last.value.position : undefined
  )

/**
 * Writes events into a store, batch by batch, emitting the progress after each batch. Running it
 * again on the same input after a crash writes only what is missing (see the module notes). Fails
 * with {@link InvalidSequence} when a stream's versions do not follow each other in the input.
 *
 * @category importing
 * @since 0.1.0
 */
export const load = <E, R>(
  target: EventStoreShape,
  events: Stream.Stream<ExportedEvent, E, R>,
  options: LoadOptions = {}
): Stream.Stream<Progress, E | LoadError, R> => {
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 500))
  return Stream.unwrap(Effect.map(headOf(target), (head) => {
    const last = new Map<string, bigint>()
    return events.pipe(
      Stream.grouped(batchSize),
      Stream.mapAccumEffect(
        (): Progress => ({ events: 0, skipped: 0, batches: 0, position: undefined }),
        (progress, batch) => {
          const invalid = checkSequence(batch, progress.events + 1, last)
          if (invalid !== undefined) return Effect.fail(invalid)
          const requests = toRequests(batch)
          return Effect.map(writeBatch(target, requests), (results) => {
            let skipped = 0
            if (head !== undefined) {
              // A batch has one part per stream.
              const sizes = new Map(requests.map((request) => [request.stream, request.events.length]))
              for (const result of results) if (result.position <= head) skipped += sizes.get(result.stream) ?? 0
            }
            const next: Progress = {
              events: progress.events + batch.length,
              skipped: progress.skipped + skipped,
              batches: progress.batches + 1,
              position: batch[batch.length - 1].position
            }
            return [next, [next]] as const
          })
        }
      )
    )
  })).pipe(Stream.withSpan("Transfer.load"))
}

/**
 * Copies every event of one store (or those a filter selects) into another: {@link load} over
 * {@link exportEvents}. Follow it with {@link verify}.
 *
 * @example
 * import { Transfer } from "@strata/core"
 * import type { EventStore } from "@strata/core"
 * import { Stream } from "effect"
 *
 * declare const from: EventStore.EventStoreShape
 * declare const to: EventStore.EventStoreShape
 * const copied = Stream.runLast(Transfer.copy(from, to))
 *
 * @category copying
 * @since 0.1.0
 */
export const copy = (
  from: EventStoreShape,
  to: EventStoreShape,
  options: ExportOptions & LoadOptions = {}
): Stream.Stream<Progress, LoadError> => load(to, exportEvents(from, options), options)

// ---- verification ----

// Two 32-bit FNV-1a lanes with different offsets: a 64-bit checksum, fast on any runtime.
const hashString = (h: readonly [number, number], text: string): [number, number] => {
  let a = h[0]
  let b = h[1]
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15)
  }
  return [a >>> 0, b >>> 0]
}

/**
 * The checksum of one event: ids, stream, version, type, data, metadata and tags (as JSON); a binary
 * event's content type and bytes in place of its data.
 *
 * @category verification
 * @since 0.1.0
 */
export const eventChecksum = (event: ExportedEvent): bigint => {
  const [a, b] = hashString(
    [0x811c9dc5, 0x050c5d1f],
    `${event.id}\u0000${event.stream}\u0000${event.version}\u0000${event.type}\u0000${
      // A binary event: its content type and bytes (base64); a JSON event's text is unchanged.
      event.data instanceof Uint8Array
        ? `\u0001${event.contentType ?? Event.defaultContentType}\u0000${Base64.encode(event.data)}`
        : JSON.stringify(event.data)}\u0000${JSON.stringify(event.metadata)}${
      // Tags count when there are any: checksums of untagged events are unchanged.
      event.tags === undefined || event.tags.length === 0 ? "" : `\u0000${JSON.stringify(event.tags)}`}`
  )
  return (BigInt(a) << 32n) | BigInt(b)
}

const mask = (1n << 64n) - 1n

/**
 * Per stream: how many events and the sum of their checksums (mod 2^64, so the order streams
 * interleave in does not matter; versions are in each checksum, so the order inside a stream does).
 *
 * @category models
 * @since 0.1.0
 */
export type Digest = Map<string, { count: number; sum: bigint }>

/**
 * The digest of a sequence of events, keeping only the streams `include` accepts.
 *
 * @category verification
 * @since 0.1.0
 */
export const digest = <E, R>(
  events: Stream.Stream<ExportedEvent, E, R>,
  include: (stream: string) => boolean = () => true
): Effect.Effect<Digest, E, R> =>
  Effect.suspend(() => {
    const result: Digest = new Map()
    return Effect.as(
      Stream.runForEach(events, (event) =>
        Effect.sync(() => {
          if (!include(event.stream)) return
          const entry = result.get(event.stream)
          const sum = eventChecksum(event)
          if (entry === undefined) result.set(event.stream, { count: 1, sum })
          else {
            entry.count++
            entry.sum = (entry.sum + sum) & mask
          }
        })),
      result
    )
  })

/**
 * A stream whose count or checksum differs between the two stores.
 *
 * @category models
 * @since 0.1.0
 */
export interface Mismatch {
  readonly stream: string
  readonly source: number
  readonly target: number
  readonly checksumsEqual: boolean
}

/**
 * What {@link verify} found.
 *
 * @category models
 * @since 0.1.0
 */
export interface Verification {
  readonly ok: boolean
  readonly streams: number
  readonly sourceEvents: number
  readonly targetEvents: number
  /** Hex checksum over every event of the source, and over the target's events of the same streams. */
  readonly sourceChecksum: string
  readonly targetChecksum: string
  /** The first 20 streams that differ. */
  readonly mismatches: ReadonlyArray<Mismatch>
}

const total = (d: Digest) => {
  let events = 0
  let sum = 0n
  for (const entry of d.values()) {
    events += entry.count
    sum = (sum + entry.sum) & mask
  }
  return { events, checksum: sum.toString(16).padStart(16, "0") }
}

/**
 * Compares two digests: the target must hold, for every stream of the source, the same events.
 *
 * @category verification
 * @since 0.1.0
 */
export const compare = (source: Digest, target: Digest): Verification => {
  const mismatches: Array<Mismatch> = []
  let differing = 0
  for (const [stream, s] of source) {
    const t = target.get(stream) ?? { count: 0, sum: 0n }
    if (s.count !== t.count || s.sum !== t.sum) {
      differing++
      if (mismatches.length < 20) {
        mismatches.push({ stream, source: s.count, target: t.count, checksumsEqual: s.sum === t.sum })
      }
    }
  }
  const a = total(source)
  const b = total(target)
  return {
    ok: differing === 0,
    streams: source.size,
    sourceEvents: a.events,
    targetEvents: b.events,
    sourceChecksum: a.checksum,
    targetChecksum: b.checksum,
    mismatches
  }
}

/**
 * Reads both stores and checks that the target holds, for every stream of the source (or of the
 * filtered part of it), the same events: same count, same ids, versions, types, data and metadata.
 * Memory grows with the number of streams, not events.
 *
 * @category verification
 * @since 0.1.0
 */
export const verify = Effect.fn("Transfer.verify")(function*(
  from: EventStoreShape,
  to: EventStoreShape,
  options: ExportOptions = {}
) {
  const source = yield* digest(exportEvents(from, options))
  const target = yield* digest(exportEvents(to), (stream) => source.has(stream))
  return compare(source, target)
})
