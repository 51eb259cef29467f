/**
 * Events as they go into a store and as they come back out.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import { v7 as uuidv7, validate as isUuid } from "uuid"
import * as Json from "./internal/json.ts"
import { InvalidEvent } from "./StoreError.ts"
import * as StreamName from "./StreamName.ts"

/**
 * An event id: a UUID. Strata generates UUIDv7 (time-ordered) ids; a caller may supply its own to
 * make an append idempotent across retries.
 *
 * @category models
 * @since 0.1.0
 */
export type EventId = string

// uuid draws 16 bytes through WebCrypto for every id (~10 us each under load); draw them from a pool
// filled 256 ids at a time instead.
const randomPool = new Uint8Array(16 * 256)
let randomNext = randomPool.length
const randomBytes = (): Uint8Array => {
  if (randomNext === randomPool.length) {
    crypto.getRandomValues(randomPool)
    randomNext = 0
  }
  randomNext += 16
  return randomPool.subarray(randomNext - 16, randomNext)
}

// Given its own random bytes, uuid's v7 keeps no sequence (each id's 32 sequence bits are random), so
// ids made within one millisecond would be in random order: keep the sequence here as uuid's own state
// does (RFC 9562 6.2, method 1). A new millisecond starts the sequence at a random 31-bit value; within
// one it counts up; if it wraps (2^31 ids in a millisecond) or the clock steps back, the id's
// millisecond moves on past the clock, so ids stay strictly increasing in the process.
let lastMillis = -Infinity
let sequence = 0

/**
 * A fresh time-ordered UUIDv7. Ids made by one process are strictly increasing (as strings too),
 * also within one millisecond: the sequence bits after the timestamp count up.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeEventId = (): EventId => {
  const random = randomBytes()
  const now = Date.now()
  if (now > lastMillis) {
    lastMillis = now
    sequence = ((random[6] & 0x7f) << 24) | (random[7] << 16) | (random[8] << 8) | random[9]
  } else {
    sequence = (sequence + 1) | 0
    if (sequence === 0) lastMillis++
  }
  return uuidv7({ random, msecs: lastMillis, seq: sequence })
}

/**
 * Metadata stored next to an event. The well-known keys tie an event to the request and the trace
 * that produced it; any other JSON value may ride along.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventMetadata {
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly traceId?: string | undefined
  readonly spanId?: string | undefined
  /** Set by typed event codecs: the schema version the data was written with. */
  readonly schemaVersion?: number | undefined
  readonly [key: string]: unknown
}

/**
 * The causation context of the current fiber: the ids that appends made now inherit.
 *
 * @category models
 * @since 0.1.0
 */
export interface Causation {
  /** The id of the event being handled. */
  readonly causationId?: string | undefined
  /** The conversation the appended events belong to. */
  readonly correlationId?: string | undefined
}

/**
 * The fiber's causation context (empty by default). Set it with {@link causedBy} or
 * {@link correlatedWith}; every append reads it.
 *
 * @category services
 * @since 0.1.0
 */
export const CurrentCausation: Context.Reference<Causation> = Context.Reference<Causation>(
  "@strata/core/Event/CurrentCausation",
  { defaultValue: () => ({}) }
)

/**
 * Runs an effect as the handling of `event`: every event it appends (on any backend, through
 * `append`, `appendMany`, a document `put` with events, a codec or an aggregate) gets
 * `causationId: event.id` and `correlationId: event.metadata.correlationId`, or `event.id` when
 * the event has none (it started the conversation). Consumers wrap their handler in it.
 *
 * **Details**
 *
 * Every append also records the current span: `traceId` and `spanId` of the span the append is
 * called in (none outside a span). Metadata given with an event wins: a key it sets (to anything
 * but `undefined`) is kept as given.
 *
 * @example
 * import { Event, EventStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const react = (event: Event.RecordedEvent) =>
 *   Effect.flatMap(EventStore.EventStore, (store) =>
 *     store.append("audit-1", [Event.make("Noted", { about: event.id })])
 *   ).pipe(Event.causedBy(event))
 *
 * @category combinators
 * @since 0.1.0
 */
export const causedBy: {
  (
    event: { readonly id: string; readonly metadata?: EventMetadata | undefined }
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    event: { readonly id: string; readonly metadata?: EventMetadata | undefined }
  ): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(
  self: Effect.Effect<A, E, R>,
  event: { readonly id: string; readonly metadata?: EventMetadata | undefined }
): Effect.Effect<A, E, R> => {
  const correlationId = event.metadata?.correlationId
  return Effect.provideService(self, CurrentCausation, {
    causationId: event.id,
    correlationId: typeof correlationId === "string" ? correlationId : event.id
  })
})

/**
 * Runs an effect inside a conversation: every event it appends gets `correlationId` (a request
 * id, say), unless its own metadata sets one. The causation id in effect is kept.
 *
 * @example
 * import { Event } from "@strata/core"
 *
 * const handled = (request: { readonly id: string }) => Event.correlatedWith(request.id)
 *
 * @category combinators
 * @since 0.1.0
 */
export const correlatedWith: {
  (correlationId: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, correlationId: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, correlationId: string): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) =>
      Effect.provideService(self, CurrentCausation, { ...fiber.getRef(CurrentCausation), correlationId })
    )
)

/**
 * Whether appends fill in context metadata (span and causation ids); {@link verbatim} turns it off.
 *
 * @category services
 * @since 0.1.0
 */
export const FillsContextMetadata: Context.Reference<boolean> = Context.Reference<boolean>(
  "@strata/core/Event/FillsContextMetadata",
  { defaultValue: () => true }
)

/**
 * Runs an effect whose appends store events' metadata exactly as given: no `traceId` / `spanId` of
 * the current span, no causation or correlation ids from the context. For moving recorded events
 * between stores (`Transfer`), where the metadata is the source's and must round-trip unchanged.
 *
 * @example
 * import { Event, EventStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const restore = (event: Event.RecordedEvent) =>
 *   Effect.flatMap(EventStore.EventStore, (store) => store.append(event.stream, [event])).pipe(Event.verbatim)
 *
 * @category combinators
 * @since 0.1.0
 */
export const verbatim = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(self, FillsContextMetadata, false)

/**
 * The metadata an append made now fills in: the caller's span (`traceId`, `spanId`) and the
 * {@link CurrentCausation}. Undefined when there is nothing to fill.
 *
 * @category combinators
 * @since 0.1.0
 */
export const contextMetadata = (fiber: {
  readonly context: Context.Context<never>
  readonly getRef: <A>(ref: Context.Reference<A>) => A
}): EventMetadata | undefined => {
  if (!fiber.getRef(FillsContextMetadata)) return undefined
  const causation = fiber.getRef(CurrentCausation)
  const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
  // A disabled tracer hands out no-op spans: they identify nothing.
  const traced = span !== undefined && span.traceId !== "noop"
  if (!traced && causation.causationId === undefined && causation.correlationId === undefined) return undefined
  const filled: Record<string, string> = {}
  if (causation.correlationId !== undefined) filled.correlationId = causation.correlationId
  if (causation.causationId !== undefined) filled.causationId = causation.causationId
  if (traced) {
    filled.traceId = span.traceId
    filled.spanId = span.spanId
  }
  return filled
}

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/**
 * Fills `filled` into each event's metadata; a key the event's metadata sets (to anything but
 * `undefined`) wins. Events that are not objects, whose metadata is not a plain object, or whose
 * fields throw when read, are left as they are for the store to refuse.
 *
 * @category combinators
 * @since 0.1.0
 */
export const fillMetadata = <Events extends ReadonlyArray<NewEvent>>(
  events: Events,
  filled: EventMetadata | undefined
): Events => {
  if (filled === undefined) return events
  // Reading the caller's events runs its code (getters, Proxy traps): an event (or an array) that
  // throws is left as given, for the store to refuse (`prepare`), instead of a defect here.
  try {
    if (!Array.isArray(events)) return events
    return events.map((event: NewEvent) => {
      try {
        if (typeof event !== "object" || event === null) return event
        const given = event.metadata
        if (given === undefined) return { ...event, metadata: filled }
        if (!isPlainObject(given)) return event
        const metadata: Record<string, unknown> = { ...filled, ...given }
        for (const key in filled) if (given[key] === undefined) metadata[key] = filled[key]
        return { ...event, metadata }
      } catch {
        return event
      }
    }) as unknown as Events
  } catch {
    return events
  }
}

/**
 * `event` with an id fixed: as given when it has one, else a copy with a fresh {@link makeEventId}
 * (a retried append then stays idempotent). An event that is not an object, or whose fields throw
 * when read (getters, a `Proxy`), is returned as given, for the store to refuse with a typed
 * `InvalidEvent` ({@link prepare}) instead of a defect here.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withId = <E extends NewEvent>(event: E): E => {
  try {
    return typeof event === "object" && event !== null && event.id === undefined
      ? { ...event, id: makeEventId() }
      : event
  } catch {
    return event
  }
}

/**
 * Runs `f` with `events` carrying the context's metadata ({@link contextMetadata}, filled with
 * {@link fillMetadata}). Every backend's appends go through it (`Tracing.eventStore`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const withContextMetadata = <Events extends ReadonlyArray<NewEvent>, A, E, R>(
  events: Events,
  f: (events: Events) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.withFiber((fiber) => f(fillMetadata(events, contextMetadata(fiber))))

/**
 * An event to append. `data` and `metadata` must be plain JSON: no BigInt, Date, Map, NaN or
 * undefined array item, strings well-formed Unicode, at most {@link maxJsonDepth} levels deep. A `-0`
 * is stored as `0` (JSON has one zero), on every backend.
 *
 * A binary event's `data` is a `Uint8Array` instead, with a {@link NewEvent.contentType} (see
 * {@link binary}): stored byte for byte, its metadata still JSON.
 *
 * @category models
 * @since 0.1.0
 */
export interface NewEvent {
  readonly id?: EventId | undefined
  readonly type: string
  readonly data: unknown
  readonly metadata?: EventMetadata | undefined
  /**
   * The media type of a binary event's bytes (`data` a `Uint8Array`); default
   * {@link defaultContentType}. Only binary events take one (see {@link contentTypeProblem}).
   */
  readonly contentType?: string | undefined
  /**
   * Tags for dynamic consistency boundaries (`Dcb`): names of the entities the event concerns
   * (`"course:c1"`, `"student:s7"`). At most {@link maxTags}, each 1 to {@link maxTagLength}
   * characters of well-formed Unicode without control characters or whitespace, no tag twice.
   * Queries (`EventStore.Query`) select events by them; backends without DCB refuse them with
   * `Unsupported`.
   */
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * An event as stored.
 *
 * - `version`: its place in its stream, from 0.
 * - `position`: its place in the global log; strictly increasing in commit order, with possible gaps.
 *   Save it as a checkpoint and subscribe `{ after: position }` to resume.
 *
 * @category models
 * @since 0.1.0
 */
export interface RecordedEvent {
  readonly id: EventId
  readonly stream: string
  readonly version: bigint
  readonly position: bigint
  readonly type: string
  readonly data: unknown
  readonly metadata: EventMetadata
  readonly createdAt: Date
  /** The event's tags, in the order they were appended; absent when it has none. */
  readonly tags?: ReadonlyArray<string> | undefined
  /**
   * Present only on a binary event (its `data` a `Uint8Array`, a copy of its own): the media type
   * it was appended with. Absent on JSON events.
   */
  readonly contentType?: string | undefined
}

/**
 * The schema of a recorded event, for carrying one across a wire or into a log.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RecordedEventSchema = Schema.Struct({
  id: Schema.String,
  stream: Schema.String,
  version: Schema.BigInt,
  position: Schema.BigInt,
  type: Schema.String,
  data: Schema.Unknown,
  metadata: Schema.Record(Schema.String, Schema.Unknown),
  createdAt: Schema.Date,
  tags: Schema.optional(Schema.Array(Schema.String)),
  contentType: Schema.optional(Schema.String)
})

/**
 * Builds a new event, generating its id.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (type: string, data: unknown, metadata?: EventMetadata): NewEvent & { readonly id: EventId } =>
  metadata === undefined ? { id: makeEventId(), type, data } : { id: makeEventId(), type, data, metadata }

/**
 * The content type of a binary event appended without one.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultContentType = "application/octet-stream"

/**
 * Builds a binary event, generating its id: `bytes` are stored as given (copied when appended, so
 * changing the array afterwards changes nothing stored), with `contentType` (default
 * {@link defaultContentType}). Reads return a `Uint8Array` in `data` and the `contentType`.
 *
 * @example
 * import { Event, EventStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47])
 * const upload = Effect.flatMap(EventStore.EventStore, (store) =>
 *   store.append("avatar-7", [Event.binary("AvatarUploaded", png, { contentType: "image/png" })])
 * )
 *
 * @category constructors
 * @since 0.1.0
 */
export const binary = (
  type: string,
  bytes: Uint8Array,
  options?: { readonly contentType?: string | undefined; readonly metadata?: EventMetadata | undefined }
): NewEvent & { readonly id: EventId; readonly data: Uint8Array; readonly contentType: string } => {
  const contentType = options?.contentType ?? defaultContentType
  return options?.metadata === undefined
    ? { id: makeEventId(), type, data: bytes, contentType }
    : { id: makeEventId(), type, data: bytes, contentType, metadata: options.metadata }
}

/**
 * True for a binary event (new or recorded): its `data` is a `Uint8Array`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isBinary = <E extends { readonly data: unknown }>(event: E): event is E & { readonly data: Uint8Array } =>
  event.data instanceof Uint8Array

/**
 * The longest content type, in characters.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxContentTypeLength = 255

// A media type: type "/" subtype, RFC 9110 tokens, then parameters in printable ASCII.
const mediaType = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*;[\x20-\x7e\t]*)?$/

/**
 * Why a value is not a valid content type, or undefined: a media type (`type/subtype`, optional
 * `; parameters`) of printable ASCII, at most {@link maxContentTypeLength} characters.
 *
 * @category validation
 * @since 0.1.0
 */
export const contentTypeProblem = (contentType: unknown): string | undefined => {
  if (typeof contentType !== "string") {
    return `contentType must be a string, got ${contentType === null ? "null" : typeof contentType}`
  }
  if (contentType.length > maxContentTypeLength) {
    return `contentType has ${contentType.length} characters; the limit is ${maxContentTypeLength}`
  }
  if (!mediaType.test(contentType)) {
    return `contentType ${JSON.stringify(contentType)} is not a media type (type/subtype in printable ASCII)`
  }
  return undefined
}

/**
 * The default largest event a store accepts: its data plus metadata as UTF-8 JSON (a binary
 * event: its bytes plus its metadata as UTF-8 JSON).
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultMaxEventBytes = 1024 * 1024

/**
 * The deepest nesting of arrays and objects a store accepts in event data, metadata, documents and
 * snapshots: `{"a":[1]}` is 2 levels. Deeper values fail with a typed error (`InvalidEvent` with
 * reason `TooDeep`, `InvalidDocument`, `InvalidArgument`) instead of overflowing the stack.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxJsonDepth: number = Json.maxDepth

/**
 * An event checked and serialised, ready for any backend to write.
 *
 * @category models
 * @since 0.1.0
 */
export interface PreparedEvent {
  readonly id: EventId
  readonly type: string
  /** The data as JSON text; `"null"` for a binary event, whose data is {@link PreparedEvent.bytes}. */
  readonly data: string
  readonly metadata: string
  /** A binary event's bytes: a private copy, never the caller's array. Absent on JSON events. */
  readonly bytes?: Uint8Array | undefined
  /** A binary event's content type (checked); absent on JSON events. */
  readonly contentType?: string | undefined
  /** Validated tags; absent when the event has none. */
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * The most tags one event may carry.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxTags = 32

/**
 * The longest tag, in characters.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxTagLength = 128

// C0 and C1 control characters, Unicode separators and every whitespace character.
const notInTags = /[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/

/**
 * Why a value is not a valid tag, or undefined: a tag is 1 to {@link maxTagLength} characters of
 * well-formed Unicode, without control characters or whitespace.
 *
 * @category validation
 * @since 0.1.0
 */
export const tagProblem = (tag: unknown): string | undefined => {
  if (typeof tag !== "string") return `a tag must be a string, got ${tag === null ? "null" : typeof tag}`
  if (tag.length === 0) return "a tag must not be empty"
  if (tag.length > maxTagLength) return `tag has ${tag.length} characters; the limit is ${maxTagLength}`
  if (!Json.isWellFormed(tag)) return "a tag must be well-formed Unicode (it has a lone surrogate)"
  if (notInTags.test(tag)) return `tag ${JSON.stringify(tag)} contains whitespace or control characters`
  return undefined
}

/**
 * Why a value is not a valid list of tags for one event, or undefined (see {@link NewEvent.tags}).
 *
 * @category validation
 * @since 0.1.0
 */
export const tagsProblem = (tags: unknown): string | undefined => {
  if (!Array.isArray(tags)) return "tags must be an array of strings"
  if (tags.length > maxTags) return `an event has ${tags.length} tags; the limit is ${maxTags}`
  const seen = new Set<string>()
  for (const tag of tags) {
    const problem = tagProblem(tag)
    if (problem !== undefined) return problem
    if (seen.has(tag)) return `tag ${JSON.stringify(tag)} appears twice`
    seen.add(tag)
  }
  return undefined
}

// What a throw from the caller's code (a getter, a Proxy trap, a toJSON) says, without running more
// of it than reading `message` once.
const thrownMessage = (cause: unknown): string => {
  try {
    const message = cause instanceof Error ? cause.message : String(cause)
    return typeof message === "string" ? message : "a value that is not text"
  } catch {
    return "a value that cannot be printed"
  }
}

// A value in a message: a string quoted, anything else by its kind (stringifying it could throw: a
// BigInt, a toJSON that throws).
const shown = (value: unknown): string =>
  typeof value === "string"
    ? JSON.stringify(value)
    : typeof value === "number" || typeof value === "boolean" || value == null
    ? String(value)
    : typeof value === "object"
    ? "an object"
    : `a ${typeof value}`

// The reason a field's read failing is refused with: the one its validation would give.
const unreadable = {
  event: "NotJson",
  type: "InvalidType",
  id: "InvalidId",
  data: "NotJson",
  contentType: "InvalidContentType",
  metadata: "NotJson",
  tags: "InvalidTags"
} as const satisfies Record<string, InvalidEvent["reason"]>

/**
 * Validates a batch of events for `stream` and serialises it once: ids (generated when absent,
 * UUIDs when given, unique within the batch), types, tags (`InvalidTags`), JSON-ness (no lone surrogates, which would read
 * back changed; `-0` is normalised to `0`, as JSON has one zero), nesting depth (`TooDeep` beyond 256 levels) and size. Nothing reaches a backend
 * unless the whole batch passes. A binary event's bytes are copied first and its content type checked
 * (`InvalidContentType` when it is not a media type, or given with JSON data); its size is its bytes
 * plus its JSON metadata.
 *
 * **Details**
 *
 * Each field of a caller's event is read once, here: a getter or a `Proxy` trap that throws is an
 * `InvalidEvent` naming the event's index and the field (with the field's reason: `InvalidType`,
 * `InvalidId`, `NotJson` for data and metadata, `InvalidContentType`, `InvalidTags`), and so is data
 * whose JSON check throws (a nested getter) or bytes that cannot be copied (a `Uint8Array` whose
 * buffer was detached by a transfer, a `Proxy` around one: `NotJson`). No input is a defect.
 *
 * @category validation
 * @since 0.1.0
 */
export const prepare = (
  stream: string,
  events: ReadonlyArray<NewEvent>,
  maxEventBytes: number = defaultMaxEventBytes
): Effect.Effect<ReadonlyArray<PreparedEvent>, InvalidEvent> =>
  Effect.suspend(() => {
    const fail = (index: number | undefined, reason: InvalidEvent["reason"], detail: string) =>
      Effect.fail(
        index === undefined
          ? new InvalidEvent({ stream, reason, detail })
          : new InvalidEvent({ stream, index, reason, detail })
      )
    let count: number
    try {
      count = Array.isArray(events) ? events.length : 0
    } catch (cause) {
      return fail(undefined, "Empty", `the events cannot be read (${thrownMessage(cause)}); pass an array of events`)
    }
    if (count === 0) return fail(undefined, "Empty", "an append needs at least one event")
    const prepared: Array<PreparedEvent> = []
    const seen = new Set<string>()
    for (let index = 0; index < count; index++) {
      let field: keyof typeof unreadable = "event"
      let type: unknown, givenId: unknown, data: unknown, contentType: unknown, metadata: unknown, tags: unknown
      try {
        const event = events[index]
        if (typeof event !== "object" || event === null) return fail(index, "NotJson", "an event must be an object")
        field = "type"
        type = event.type
        field = "id"
        givenId = event.id
        field = "data"
        data = event.data
        field = "contentType"
        contentType = event.contentType
        field = "metadata"
        metadata = event.metadata
        field = "tags"
        tags = event.tags
        // Copied here: validating the caller's array and then copying it would run its code twice.
        if (Array.isArray(tags)) tags = Array.from(tags)
      } catch (cause) {
        return fail(
          index,
          unreadable[field],
          `reading the event's ${field} threw (${thrownMessage(cause)}); pass an event whose fields are plain values`
        )
      }
      const typeProblem = eventTypeProblem(type)
      if (typeProblem !== undefined) return fail(index, "InvalidType", `event type ${typeProblem}`)
      let id: string
      if (givenId === undefined) {
        id = makeEventId()
      } else if (typeof givenId !== "string" || !isUuid(givenId)) {
        return fail(index, "InvalidId", `event id ${shown(givenId)} is not a UUID`)
      } else {
        id = givenId.toLowerCase()
      }
      if (seen.has(id)) return fail(index, "InvalidId", `event id ${id} appears twice in one append`)
      seen.add(id)
      // The bytes are copied first, as a plain Uint8Array (a Buffer's slice would share memory), and
      // only the copy is used: the caller may reuse its array, and an array that cannot be copied
      // (detached by a transfer, a Proxy) is refused here rather than failing later.
      let bytes: Uint8Array | undefined
      try {
        if (data instanceof Uint8Array) bytes = new Uint8Array(data)
      } catch (cause) {
        return fail(
          index,
          "NotJson",
          `data is a Uint8Array whose bytes cannot be read (${
            thrownMessage(cause)
          }): its ArrayBuffer was detached (transferred, e.g. to a worker) or it is not a real Uint8Array (a Proxy); pass a Uint8Array that owns its bytes (copy it before a transfer: new Uint8Array(bytes))`
        )
      }
      let text: string | undefined
      if (bytes === undefined) {
        if (contentType !== undefined) {
          return fail(
            index,
            "InvalidContentType",
            "only a binary event (data a Uint8Array) takes a contentType: leave it out, or give the data as bytes with a media type such as application/octet-stream"
          )
        }
        try {
          const dataProblem = Json.check(data)
          if (dataProblem !== undefined) {
            return fail(index, dataProblem.kind, `data is not plain JSON: ${dataProblem.detail}`)
          }
          text = JSON.stringify(data)
        } catch (cause) {
          return fail(index, "NotJson", `data is not plain JSON: reading it threw (${thrownMessage(cause)})`)
        }
      } else if (contentType !== undefined) {
        const problem = contentTypeProblem(contentType)
        if (problem !== undefined) {
          return fail(index, "InvalidContentType", `${problem}; give a media type such as application/octet-stream`)
        }
      }
      let meta: string
      try {
        const metadataProblem: Json.Problem | undefined = metadata === undefined
          ? undefined
          : typeof metadata === "object" && !Array.isArray(metadata) && metadata !== null
          ? Json.check(metadata)
          : { kind: "NotJson", detail: "$ must be an object" }
        if (metadataProblem !== undefined) {
          return fail(index, metadataProblem.kind, `metadata is not plain JSON: ${metadataProblem.detail}`)
        }
        meta = metadata === undefined ? "{}" : JSON.stringify(metadata)
      } catch (cause) {
        return fail(index, "NotJson", `metadata is not plain JSON: reading it threw (${thrownMessage(cause)})`)
      }
      if (bytes !== undefined) {
        const size = bytes.length + Json.byteLength(meta)
        if (size > maxEventBytes) {
          return fail(
            index,
            "TooLarge",
            `the event is ${size} bytes (${bytes.length} of data, the rest its JSON metadata); the limit is ${maxEventBytes}`
          )
        }
      } else {
        const data = text as string
        // A UTF-16 unit is at most 3 UTF-8 bytes: only text that could be over the limit is measured.
        const size = (data.length + meta.length) * 3 <= maxEventBytes
          ? 0
          : Json.byteLength(data) + Json.byteLength(meta)
        if (size > maxEventBytes) {
          return fail(index, "TooLarge", `the event is ${size} bytes of JSON; the limit is ${maxEventBytes}`)
        }
      }
      const eventType = type as string
      const media = (contentType as string | undefined) ?? defaultContentType
      if (tags === undefined || (Array.isArray(tags) && tags.length === 0)) {
        prepared.push(
          bytes === undefined
            ? { id, type: eventType, data: text as string, metadata: meta }
            : { id, type: eventType, data: "null", metadata: meta, bytes, contentType: media }
        )
        continue
      }
      const tagsProblemFound = tagsProblem(tags)
      if (tagsProblemFound !== undefined) return fail(index, "InvalidTags", tagsProblemFound)
      const checked = tags as ReadonlyArray<string>
      prepared.push(
        bytes === undefined
          ? { id, type: eventType, data: text as string, metadata: meta, tags: checked }
          : {
            id,
            type: eventType,
            data: "null",
            metadata: meta,
            bytes,
            contentType: media,
            tags: checked
          }
      )
    }
    return Effect.succeed(prepared)
  })

/**
 * Why a value is not a valid event type, or undefined. Event types follow the stream-name rules.
 *
 * @category validation
 * @since 0.1.0
 */
export const eventTypeProblem = (type: unknown): string | undefined => {
  const problem = StreamName.problem(type)
  return problem === undefined ? undefined : `${shown(type)} is not valid: ${problem}`
}
