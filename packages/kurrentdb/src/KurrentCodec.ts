/**
 * How Strata's values map onto KurrentDB's: events, expected versions, filters, retention metadata.
 *
 * - Events are JSON events; Strata's metadata is the event's JSON metadata. Events written by the v2
 *   multi-stream append carry string-valued properties instead, which the server renders as JSON
 *   metadata with `$schema.name` / `$schema.format` added: Strata stores its metadata there as one
 *   JSON string under {@link metadataProperty} and reads it back from there.
 * - Binary events (`Event.binary`) are KurrentDB's non-JSON events (`isJson = false`, content type
 *   `application/octet-stream`, v2 schema format `Bytes`): their bytes travel as they are (gRPC bytes,
 *   no base64). KurrentDB keeps no media type of its own, so a content type other than
 *   `application/octet-stream` rides in the event's metadata under {@link contentTypeProperty} (a v1
 *   metadata key, a v2 property) and is taken out again on read.
 * - `createdAt` is cut to whole seconds everywhere: the client's Rust reader delivers seconds, its
 *   grpc-js subscriptions milliseconds, and the same event must read back the same through both.
 *
 * @since 0.1.0
 */
import type { AppendStreamState, EventData, Filter, ResolvedEvent } from "@kurrent/kurrentdb-client"
import { EVENT_TYPE, STREAM_NAME } from "@kurrent/kurrentdb-client"
import type { Event, EventStore, ExpectedVersion } from "@strata/core"
import * as Duration from "effect/Duration"

/**
 * The property that carries Strata's metadata on events written by the multi-stream append.
 *
 * @category constants
 * @since 0.1.0
 */
export const metadataProperty = "strata.metadata"

/**
 * The metadata key (v1) and property (v2) that carry a binary event's content type when it is not
 * `application/octet-stream`.
 *
 * @category constants
 * @since 0.1.0
 */
export const contentTypeProperty = "strata.contentType"

const octetStream = "application/octet-stream"

/**
 * `EventNumber.DeletedStream`: the `$tb` of a soft-deleted stream.
 *
 * @category constants
 * @since 0.1.0
 */
export const deletedStream = 9_223_372_036_854_775_807n

/**
 * A revision no stream reaches (`long.MaxValue - 1`): a write expecting it is refused, and the
 * refusal names the stream's current revision.
 *
 * @category constants
 * @since 0.1.0
 */
export const unreachableRevision = 9_223_372_036_854_775_806n

/**
 * An ExpectedVersion as the client's stream state. A negative exact version (which no stream meets)
 * becomes {@link unreachableRevision}: the client cannot serialise a negative revision in the v1
 * protocol (gRPC INTERNAL), and the v2 multi-stream append would read -1 as "no stream".
 *
 * @category conversions
 * @since 0.1.0
 */
export const streamState = (expected: ExpectedVersion.ExpectedVersion | undefined): AppendStreamState => {
  switch (expected?._tag) {
    case undefined:
    case "Any":
      return "any"
    case "NoStream":
      return "no_stream"
    case "StreamExists":
      return "stream_exists"
    case "Exact":
      return expected.version < 0n ? unreachableRevision : expected.version
  }
}

/**
 * A prepared event as a v1 JSON event (data and metadata stay JSON text's values).
 *
 * @category conversions
 * @since 0.1.0
 */
export const toEventData = (event: Event.PreparedEvent, source: Event.NewEvent): EventData =>
  (event.bytes === undefined
    ? {
      id: event.id,
      contentType: "application/json",
      type: event.type,
      data: source.data,
      metadata: source.metadata ?? {}
    }
    : {
      id: event.id,
      contentType: octetStream,
      type: event.type,
      // The prepared copy: the caller's array may change after the call.
      data: event.bytes,
      metadata: event.contentType === octetStream
        ? source.metadata ?? {}
        : { ...source.metadata, [contentTypeProperty]: event.contentType }
    }) as EventData

/**
 * A prepared event for the v2 append: the metadata as one string property.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toRecordData = (event: Event.PreparedEvent, source: Event.NewEvent): EventData => {
  if (event.bytes === undefined) {
    return {
      id: event.id,
      contentType: "application/json",
      type: event.type,
      data: source.data,
      metadata: event.metadata === "{}" ? undefined : { [metadataProperty]: event.metadata }
    } as EventData
  }
  const properties: Record<string, string> = {}
  if (event.metadata !== "{}") properties[metadataProperty] = event.metadata
  if (event.contentType !== octetStream) properties[contentTypeProperty] = event.contentType!
  return {
    id: event.id,
    contentType: octetStream,
    type: event.type,
    data: event.bytes,
    metadata: Object.keys(properties).length === 0 ? undefined : properties
  } as EventData
}

const decodeMetadata = (raw: unknown): Event.EventMetadata => {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) return {}
  const record = raw as Record<string, unknown>
  if ("$schema.name" in record && "$schema.format" in record) {
    const carried = record[metadataProperty]
    if (typeof carried !== "string") return {}
    try {
      return JSON.parse(carried)
    } catch {
      return {}
    }
  }
  return record as Event.EventMetadata
}

// A binary event's content type (its metadata's {@link contentTypeProperty}, else octet-stream) and
// its metadata without that key. v2-written events carry it as a property next to Strata's metadata.
const binaryMetadata = (raw: unknown): { readonly contentType: string; readonly metadata: Event.EventMetadata } => {
  const carried = typeof raw === "object" && raw !== null && !Array.isArray(raw) && !(raw instanceof Uint8Array)
    ? (raw as Record<string, unknown>)[contentTypeProperty]
    : undefined
  const decoded = decodeMetadata(raw)
  if (!(contentTypeProperty in decoded)) {
    return { contentType: typeof carried === "string" ? carried : octetStream, metadata: decoded }
  }
  const { [contentTypeProperty]: inMetadata, ...metadata } = decoded
  return { contentType: typeof inMetadata === "string" ? inMetadata : octetStream, metadata }
}

/**
 * A recorded event from the client: JSON events with their data, non-JSON events as binary events
 * (a copy of their bytes and their content type). Undefined for link events without a target.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromResolved = (resolved: ResolvedEvent): Event.RecordedEvent | undefined => {
  const event = resolved.event
  if (event === undefined) return undefined
  const position = event.position?.commit ?? resolved.commitPosition ?? -1n
  const createdAt = new Date(Math.floor(event.created.getTime() / 1000) * 1000)
  if (!event.isJson) {
    const { contentType, metadata } = binaryMetadata(event.metadata)
    return {
      id: event.id.toLowerCase(),
      stream: event.streamId,
      version: event.revision,
      position,
      type: event.type,
      // The client hands a Buffer (or a view of a message): a plain Uint8Array of the caller's own.
      data: new Uint8Array(event.data as Uint8Array),
      metadata,
      createdAt,
      contentType
    }
  }
  return {
    id: event.id.toLowerCase(),
    stream: event.streamId,
    version: event.revision,
    position,
    type: event.type,
    data: event.data,
    metadata: decodeMetadata(event.metadata),
    createdAt
  }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * The server-side part of a Strata filter: KurrentDB filters on one thing, event types or stream
 * names. Types win (they are usually the narrower); categories and prefixes become one stream-name
 * regex otherwise; with no filter at all, system events (`$...` types) are excluded on the server.
 * The rest of the filter is applied on the client (`Inputs.passes`), as is the exclusion of system
 * streams.
 *
 * @category conversions
 * @since 0.1.0
 */
export const serverFilter = (filter: EventStore.EventFilter | undefined): Filter => {
  if (filter?.types !== undefined) {
    return {
      filterOn: EVENT_TYPE,
      regex: `^(?:${filter.types.map(escape).join("|")})$`,
      checkpointInterval: 1
    }
  }
  const lookaheads: Array<string> = []
  if (filter?.categories !== undefined) {
    lookaheads.push(`(?=(?:${filter.categories.map(escape).join("|")})(?:-|$))`)
  }
  if (filter?.streamPrefixes !== undefined) {
    lookaheads.push(`(?=(?:${filter.streamPrefixes.map(escape).join("|")}))`)
  }
  if (lookaheads.length > 0) return { filterOn: STREAM_NAME, regex: `^${lookaheads.join("")}`, checkpointInterval: 1 }
  return { filterOn: EVENT_TYPE, regex: "^[^$]", checkpointInterval: 1 }
}

/**
 * A stream's metadata fields that Strata reads and writes.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetentionMetadata {
  readonly truncateBefore: bigint | undefined
  readonly maxCount: number | undefined
  readonly maxAgeSeconds: number | undefined
  readonly softDeleted: boolean
}

const integer = (value: unknown): bigint | undefined => {
  if (typeof value === "number" && value >= 9.2e18) return deletedStream
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value)
  if (typeof value === "string" && /^\d+$/.test(value)) return BigInt(value)
  return undefined
}

/**
 * Reads the retention fields of a stream's metadata (the raw JSON object).
 *
 * @category conversions
 * @since 0.1.0
 */
export const retentionOf = (metadata: Record<string, unknown> | undefined): RetentionMetadata => {
  const tb = integer(metadata?.["$tb"])
  const maxCount = integer(metadata?.["$maxCount"])
  const maxAge = integer(metadata?.["$maxAge"])
  return {
    truncateBefore: tb,
    maxCount: maxCount === undefined ? undefined : Number(maxCount),
    maxAgeSeconds: maxAge === undefined ? undefined : Number(maxAge),
    softDeleted: tb === deletedStream
  }
}

/**
 * A stream's retention as Strata reports it. A soft delete reads as `truncateBefore = last + 1`.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toStreamRetention = (
  rules: RetentionMetadata,
  lastVersion: bigint | undefined
): EventStore.StreamRetention => {
  const out: { truncateBefore?: bigint; maxCount?: number; maxAge?: Duration.Duration } = {}
  if (rules.truncateBefore !== undefined) {
    out.truncateBefore = rules.softDeleted ? (lastVersion ?? -1n) + 1n : rules.truncateBefore
  }
  if (rules.maxCount !== undefined) out.maxCount = rules.maxCount
  if (rules.maxAgeSeconds !== undefined) out.maxAge = Duration.seconds(rules.maxAgeSeconds)
  return out
}
