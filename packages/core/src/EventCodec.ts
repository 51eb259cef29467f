/**
 * Typed, versioned events: a Schema per event type, upcasting of older stored versions on read,
 * and helpers to append typed events and to read or subscribe to decoded streams.
 *
 * An event type is a name, a current Schema (a Struct whose Type is a plain object) and a version.
 * Its decoded value is tagged with `_tag` = the type name, so the events of a codec form a
 * discriminated union. Each stored event carries the version it was written with in
 * `metadata.schemaVersion` (absent counts as 1); an older version decodes through its upcast, a
 * Schema whose Encoded side is the old stored JSON and whose Type is the current type.
 *
 * A binary event type (`contentType` given) has a schema whose Encoded side is a `Uint8Array`
 * (protobuf, CBOR, an image...): its events are stored as binary events (`Event.binary`) with that
 * content type, and decode from the bytes; the schema version still rides in the JSON metadata, so
 * upcasting works the same (an upcast's Encoded side is what the older version stored: bytes, or
 * JSON when a type moved from JSON to bytes).
 *
 * Decode failures (unknown type, unknown schema version, data that does not match) are a typed
 * {@link EventDecodeError} naming the stream, version, position and id of the event; they never
 * die. Every decoding helper takes `onDecodeError`: `"fail"` (the default) fails the stream,
 * `"skip"` logs a warning and drops the event, and a function dead-letters it (for example appends
 * it to a parking stream) and then drops it.
 *
 * @example
 * ```ts
 * import { EventCodec, ExpectedVersion } from "@strata/core"
 * import { Effect, Schema } from "effect"
 *
 * const ItemAddedV2 = Schema.Struct({ sku: Schema.String, quantity: Schema.Int })
 * const ItemAdded = EventCodec.type("ItemAdded", {
 *   schema: ItemAddedV2,
 *   version: 2,
 *   upcasts: {
 *     1: EventCodec.upcast(Schema.Struct({ sku: Schema.String }), ItemAddedV2, (v1) => ({ ...v1, quantity: 1 }))
 *   }
 * })
 * const CartOpened = EventCodec.type("CartOpened", { schema: Schema.Struct({ customer: Schema.String }) })
 * const CartEvents = EventCodec.make([CartOpened, ItemAdded])
 * type CartEvent = EventCodec.Type<typeof CartEvents>
 *
 * const program = Effect.gen(function*() {
 *   yield* CartEvents.append("cart-1", [CartOpened.make({ customer: "ada" })], { expected: ExpectedVersion.noStream })
 *   // Stream<Decoded<CartEvent>, ReadError | EventDecodeError, EventStore>
 *   return CartEvents.read("cart-1")
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as SchemaIssue from "effect/SchemaIssue"
import type * as Stream from "effect/Stream"
import type * as Types from "effect/Types"
import * as Event from "./Event.ts"
import type { EventMetadata, NewEvent, RecordedEvent } from "./Event.ts"
import {
  type AppendError,
  type AppendOptions,
  type AppendResult,
  type EventFilter,
  EventStore,
  type ReadAllOptions,
  type ReadError,
  type ReadOptions,
  type SubscribeAllOptions,
  type SubscribeOptions
} from "./EventStore.ts"
import * as CodecContext from "./internal/codec/context.ts"
import { type AnyEvent, isPositiveInteger } from "./internal/codec/context.ts"
import * as Decode from "./internal/codec/decode.ts"
import * as Encode from "./internal/codec/encode.ts"
import * as Store from "./internal/codec/store.ts"
import * as Decoding from "./internal/codec/streams.ts"
import type { EventDecodeError, InvalidArgument, InvalidEvent, StoreUnavailable } from "./StoreError.ts"

/**
 * @category type IDs
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@strata/core/EventCodec"

/**
 * @category type IDs
 * @since 0.1.0
 */
export type TypeId = "~@strata/core/EventCodec"

/**
 * @category type IDs
 * @since 0.1.0
 */
export const EventTypeId: EventTypeId = "~@strata/core/EventCodec/EventType"

/**
 * @category type IDs
 * @since 0.1.0
 */
export type EventTypeId = "~@strata/core/EventCodec/EventType"

/**
 * A decoded event value: the fields of its schema plus `_tag`, the event type's name.
 *
 * @category models
 * @since 0.1.0
 */
export type Tagged<Name extends string, A> = Types.Simplify<{ readonly _tag: Name } & A>

/**
 * The schemas an event type accepts: plain-object Types, no services.
 *
 * @category models
 * @since 0.1.0
 */
export type EventSchema = Schema.Codec<object, unknown, never, never>

/**
 * One event type: its name, current schema and version, and upcasts from older versions.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventType<Name extends string, S extends EventSchema> {
  readonly [EventTypeId]: EventTypeId
  readonly name: Name
  /** The current schema version: written to `metadata.schemaVersion` on encode. */
  readonly version: number
  readonly schema: S
  /**
   * Set on a binary event type: its schema encodes to a `Uint8Array`, stored as a binary event with
   * this content type. Absent on JSON event types.
   */
  readonly contentType?: string | undefined
  /** Older version -> Schema from that version's stored JSON to the current Type. */
  readonly upcasts: ReadonlyMap<number, Schema.Codec<S["Type"], unknown, never, never>>
  /**
   * The DCB tags of an event of this type (`NewEvent.tags`), computed from the event on every encode;
   * absent: its events carry no tags. See {@link type}.
   */
  readonly tags?: ((event: Tagged<Name, S["Type"]>) => ReadonlyArray<string>) | undefined
  /**
   * Builds a tagged event, applying the schema's constructor defaults and checks.
   * Throws when the fields are invalid (like `Schema.make`).
   */
  readonly make: (fields: S["~type.make.in"]) => Tagged<Name, S["Type"]>
  /**
   * {@link EventType.make} as an Effect: builds the tagged event, or fails with
   * {@link InvalidEventFields} when the fields are invalid (for input that is not known to be valid).
   */
  readonly makeEffect: (fields: S["~type.make.in"]) => Effect.Effect<Tagged<Name, S["Type"]>, InvalidEventFields>
  /** True for a value tagged with this type's name. */
  readonly is: (u: unknown) => u is Tagged<Name, S["Type"]>
}

const formatIssue = SchemaIssue.makeFormatterDefault()

/**
 * The fields given to {@link EventType.makeEffect} do not make a valid event of that type. `detail`
 * is the schema's full account of every problem; the message names the first one only.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidEventFields extends Schema.TaggedError<InvalidEventFields>(
  "@strata/core/EventCodec/InvalidEventFields"
)("InvalidEventFields", {
  eventType: Schema.String,
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    // The first problem on one line, with its path: `Expected an integer at ["quantity"]`.
    return `Invalid ${this.eventType} fields: ${this.detail.replaceAll("\n  at ", " at ").split("\n", 1)[0]}`
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export declare namespace EventType {
  /**
   * Any event type.
   *
   * @category models
   * @since 0.1.0
   */
  export type Any = EventType<string, any>
}

/**
 * The decoded event of an event type or of a codec.
 *
 * @example
 * ```ts
 * import { EventCodec } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const ItemAdded = EventCodec.type("ItemAdded", { schema: Schema.Struct({ sku: Schema.String }) })
 * const CartEvents = EventCodec.make([ItemAdded])
 * type CartEvent = EventCodec.Type<typeof CartEvents> // the union of the codec's decoded events
 * type ItemAddedEvent = EventCodec.Type<typeof ItemAdded> // { readonly _tag: "ItemAdded"; readonly sku: string }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Type<T> = T extends EventCodec<infer E> ? E
  : T extends EventType<infer Name, infer S> ? Tagged<Name, S["Type"]>
  : never

/**
 * A decoded event with its envelope: everything the store recorded, plus the typed `event` and the
 * schema version the data was written with.
 *
 * @category models
 * @since 0.1.0
 */
export interface Decoded<E> extends RecordedEvent {
  readonly event: E
  readonly schemaVersion: number
}

/**
 * What to do with an event that does not decode:
 *
 * - `"fail"` (default): fail with {@link EventDecodeError}.
 * - `"skip"`: log a warning naming the event, and drop it.
 * - a function: dead-letter the event (log it, append it to a parking stream, count it), then drop
 *   it. If the function fails, the stream fails with its error.
 *
 * @category models
 * @since 0.1.0
 */
export type OnDecodeError<X = never, R = never> =
  | "fail"
  | "skip"
  | ((error: EventDecodeError) => Effect.Effect<void, X, R>)

/**
 * Decoding options that fail on an undecodable event (the default).
 *
 * @category models
 * @since 0.1.0
 */
export interface FailOnDecodeError {
  readonly onDecodeError?: "fail" | undefined
}

/**
 * Decoding options that skip or dead-letter an undecodable event instead of failing.
 *
 * @category models
 * @since 0.1.0
 */
export interface DropOnDecodeError<X = never, R = never> {
  readonly onDecodeError: "skip" | ((error: EventDecodeError) => Effect.Effect<void, X, R>)
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DecodeOptions<X = never, R = never> {
  readonly onDecodeError?: OnDecodeError<X, R> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface AppendTypedOptions extends AppendOptions {
  /** Metadata for every appended event (correlation and causation ids, ...). */
  readonly metadata?: EventMetadata | undefined
}

/**
 * A set of event types: encodes typed events to {@link NewEvent}s and decodes {@link RecordedEvent}s,
 * upcasting older versions.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventCodec<E extends { readonly _tag: string }> {
  readonly [TypeId]: TypeId
  readonly eventTypes: ReadonlyArray<EventType.Any>
  /** The names of the event types, for `EventFilter.types`. */
  readonly types: ReadonlyArray<E["_tag"]>

  /**
   * Encodes a typed event, stamping `metadata.schemaVersion`, generating an event id and putting on
   * the tags of its type's `tags` function. Fails with `InvalidEvent` (reason `InvalidType` for a
   * type the codec does not know, `NotJson` when the value does not encode with its schema or not to
   * plain JSON, for example a `NaN` in a `Schema.Number` field, `InvalidTags` when its tags are
   * invalid or its `tags` function throws); its `stream` is empty, as the stream is not known here
   * ({@link EventCodec.encodeAll} and `append` fill it in).
   */
  readonly encode: (
    event: E,
    metadata?: EventMetadata
  ) => Effect.Effect<NewEvent & { readonly id: string }, InvalidEvent>

  /** Encodes a batch of events for `stream`; errors name the stream and the index of the event. */
  readonly encodeAll: (
    stream: string,
    events: ReadonlyArray<E>,
    metadata?: EventMetadata
  ) => Effect.Effect<ReadonlyArray<NewEvent & { readonly id: string }>, InvalidEvent>

  /** Decodes one recorded event, upcasting it when it was written with an older version. */
  readonly decode: (recorded: RecordedEvent) => Effect.Effect<Decoded<E>, EventDecodeError>

  /**
   * Decodes a stream of recorded events, as a Stream combinator.
   *
   * @example
   * ```ts
   * import { EventCodec, EventStore } from "@strata/core"
   * import { Effect, Schema } from "effect"
   *
   * const CartEvents = EventCodec.make([EventCodec.type("CartOpened", { schema: Schema.Struct({ customer: Schema.String }) })])
   * const decoded = Effect.map(EventStore.EventStore, (store) =>
   *   store.subscribeAll({ filter: EventCodec.filter(CartEvents) }).pipe(CartEvents.decodeStream({ onDecodeError: "skip" })))
   * ```
   */
  readonly decodeStream: {
    (options?: FailOnDecodeError): <X, R>(
      self: Stream.Stream<RecordedEvent, X, R>
    ) => Stream.Stream<Decoded<E>, X | EventDecodeError, R>
    <X2 = never, R2 = never>(options: DropOnDecodeError<X2, R2>): <X, R>(
      self: Stream.Stream<RecordedEvent, X, R>
    ) => Stream.Stream<Decoded<E>, X | X2, R | R2>
  }

  /** Decodes a stream into `Result`s: every recorded event comes out, decoded or with its error. */
  readonly decodeResults: <X, R>(
    self: Stream.Stream<RecordedEvent, X, R>
  ) => Stream.Stream<Result.Result<Decoded<E>, EventDecodeError>, X, R>

  /**
   * Turns a handler of decoded events into a handler of recorded events (for `Consumer.run`).
   * An event that does not decode is treated as `onDecodeError` says; skipped events count as handled.
   */
  readonly handler: {
    <X, R>(
      handle: (event: Decoded<E>) => Effect.Effect<void, X, R>,
      options?: FailOnDecodeError
    ): (recorded: RecordedEvent) => Effect.Effect<void, X | EventDecodeError, R>
    <X, R, X2 = never, R2 = never>(
      handle: (event: Decoded<E>) => Effect.Effect<void, X, R>,
      options: DropOnDecodeError<X2, R2>
    ): (recorded: RecordedEvent) => Effect.Effect<void, X | X2, R | R2>
  }

  /** Encodes and appends typed events to one stream. */
  readonly append: (
    stream: string,
    events: ReadonlyArray<E>,
    options?: AppendTypedOptions
  ) => Effect.Effect<AppendResult, AppendError, EventStore>

  /** Reads one stream, decoded. */
  readonly read: {
    (stream: string, options?: ReadOptions & FailOnDecodeError): Stream.Stream<
      Decoded<E>,
      ReadError | EventDecodeError,
      EventStore
    >
    <X2 = never, R2 = never>(stream: string, options: ReadOptions & DropOnDecodeError<X2, R2>): Stream.Stream<
      Decoded<E>,
      ReadError | X2,
      EventStore | R2
    >
  }

  /** Reads the global log, decoded; only this codec's event types are read. */
  readonly readAll: {
    (options?: ReadAllOptions & FailOnDecodeError): Stream.Stream<
      Decoded<E>,
      InvalidArgument | StoreUnavailable | EventDecodeError,
      EventStore
    >
    <X2 = never, R2 = never>(options: ReadAllOptions & DropOnDecodeError<X2, R2>): Stream.Stream<
      Decoded<E>,
      InvalidArgument | StoreUnavailable | X2,
      EventStore | R2
    >
  }

  /** Subscribes to one stream, decoded. */
  readonly subscribe: {
    (stream: string, options?: SubscribeOptions & FailOnDecodeError): Stream.Stream<
      Decoded<E>,
      ReadError | EventDecodeError,
      EventStore
    >
    <X2 = never, R2 = never>(stream: string, options: SubscribeOptions & DropOnDecodeError<X2, R2>): Stream.Stream<
      Decoded<E>,
      ReadError | X2,
      EventStore | R2
    >
  }

  /** Subscribes to the global log, decoded; only this codec's event types are delivered. */
  readonly subscribeAll: {
    (options?: SubscribeAllOptions & FailOnDecodeError): Stream.Stream<
      Decoded<E>,
      InvalidArgument | StoreUnavailable | EventDecodeError,
      EventStore
    >
    <X2 = never, R2 = never>(options: SubscribeAllOptions & DropOnDecodeError<X2, R2>): Stream.Stream<
      Decoded<E>,
      InvalidArgument | StoreUnavailable | X2,
      EventStore | R2
    >
  }
}

/**
 * Declares an event type.
 *
 * - `schema`: the current schema, a Struct (its Type must be a plain object without a `_tag`
 *   field: the tag is added on decode and stripped on encode, and the stored event's `type` is the name).
 * - `version`: the current schema version, default 1.
 * - `upcasts`: for each older version still in the store, a Schema from that version's stored
 *   JSON to the current Type (see {@link upcast}). To move from version 2 to 3, compose: pipe the
 *   old `1 -> 2` upcast into a `Schema.decodeTo` of version 3.
 * - `contentType`: makes it a binary event type: `schema` encodes to a `Uint8Array`, stored byte for
 *   byte as a binary event with this media type (see the module notes).
 * - `tags`: the event's DCB tags (`Dcb`), from the event: every encode (`encode`, `encodeAll`,
 *   `append`, `Aggregate.decide`, `Dcb.decide` with a codec) puts them on the stored event. They are
 *   validated as any tags are: invalid tags, or a function that throws, fail the encode with
 *   `InvalidEvent` (reason `InvalidTags`), never a defect. Decoded events carry the recorded tags
 *   (`Decoded.tags`). A backend without DCB refuses tagged events with `Unsupported`.
 *
 * Throws on an invalid name, version, content type or upcast key: these are definitions, checked
 * once at startup.
 *
 * @example
 * ```ts
 * import { EventCodec } from "@strata/core"
 * import { Schema, SchemaGetter } from "effect"
 *
 * // A binary event type: a reading as 8 bytes (a little-endian float64).
 * const EightBytes = Schema.Uint8Array.check(Schema.makeFilter((bytes) => bytes.length === 8 || "8 bytes"))
 * const Float64Bytes = EightBytes.pipe(Schema.decodeTo(Schema.Struct({ celsius: Schema.Number }), {
 *   decode: SchemaGetter.transform((bytes: Uint8Array) => ({
 *     celsius: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0, true)
 *   })),
 *   encode: SchemaGetter.transform(({ celsius }: { readonly celsius: number }) => {
 *     const bytes = new Uint8Array(8)
 *     new DataView(bytes.buffer).setFloat64(0, celsius, true)
 *     return bytes
 *   })
 * }))
 * const Measured = EventCodec.type("Measured", { schema: Float64Bytes, contentType: "application/x-float64" })
 *
 * // A tagged event type: each enrolment concerns a course and a student (see `Dcb`).
 * const StudentEnrolled = EventCodec.type("StudentEnrolled", {
 *   schema: Schema.Struct({ course: Schema.String, student: Schema.String }),
 *   tags: (event) => [`course:${event.course}`, `student:${event.student}`]
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const type = <const Name extends string, S extends EventSchema>(
  name: Name,
  options: {
    readonly schema: S
    readonly version?: number | undefined
    readonly upcasts?: { readonly [version: number]: Schema.Codec<S["Type"], unknown, never, never> } | undefined
    readonly contentType?: string | undefined
    readonly tags?: ((event: Tagged<Name, S["Type"]>) => ReadonlyArray<string>) | undefined
  }
): EventType<Name, S> => {
  const problem = Event.eventTypeProblem(name)
  if (problem !== undefined) throw new Error(`EventCodec.type: event type ${problem}`)
  const contentType = options.contentType
  if (contentType !== undefined) {
    const invalid = Event.contentTypeProblem(contentType)
    if (invalid !== undefined) throw new Error(`EventCodec.type(${JSON.stringify(name)}): ${invalid}`)
  }
  const version = options.version ?? 1
  if (!isPositiveInteger(version)) {
    throw new Error(`EventCodec.type(${JSON.stringify(name)}): version must be an integer >= 1, got ${version}`)
  }
  const fields = (options.schema as { readonly fields?: unknown }).fields
  if (typeof fields === "object" && fields !== null && "_tag" in fields) {
    throw new Error(
      `EventCodec.type(${JSON.stringify(name)}): the schema must not declare _tag; the type name is the tag`
    )
  }
  if (options.tags !== undefined && typeof options.tags !== "function") {
    throw new Error(`EventCodec.type(${JSON.stringify(name)}): tags must be a function from the event to its tags`)
  }
  const upcasts = new Map<number, Schema.Codec<S["Type"], unknown, never, never>>()
  for (const [key, schema] of Object.entries(options.upcasts ?? {})) {
    const from = Number(key)
    if (!isPositiveInteger(from) || from >= version) {
      throw new Error(
        `EventCodec.type(${JSON.stringify(name)}): upcast keys must be older versions (1 to ${version - 1}), got ${
          JSON.stringify(key)
        }`
      )
    }
    upcasts.set(from, schema)
  }
  const tag = (value: S["Type"]) => ({ _tag: name, ...value }) as Tagged<Name, S["Type"]>
  return {
    [EventTypeId]: EventTypeId,
    name,
    version,
    schema: options.schema,
    upcasts,
    ...(contentType === undefined ? {} : { contentType }),
    ...(options.tags === undefined ? {} : { tags: options.tags }),
    make: (input) => tag(options.schema.make(input)),
    makeEffect: (input) =>
      options.schema.makeEffect(input).pipe(
        Effect.mapBoth({
          onFailure: (issue) => new InvalidEventFields({ eventType: name, detail: formatIssue(issue) }),
          onSuccess: tag
        })
      ),
    is: (u): u is Tagged<Name, S["Type"]> =>
      typeof u === "object" && u !== null && (u as { readonly _tag?: unknown })._tag === name
  }
}

/**
 * Builds an upcast: decodes the old stored JSON with `from`, maps it with `f` to the current
 * schema's Encoded form (for a plain Struct, its Type), and decodes that with `to`. Encoding
 * back to the old version is forbidden: events are always written with the current version.
 *
 * @example
 * ```ts
 * import { EventCodec } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const V1 = Schema.Struct({ sku: Schema.String })
 * const ItemAddedV2 = Schema.Struct({ sku: Schema.String, quantity: Schema.Int })
 * const upcast1 = EventCodec.upcast(V1, ItemAddedV2, (v1) => ({ sku: v1.sku, quantity: 1 }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const upcast = <From extends EventSchema, To extends EventSchema>(
  from: From,
  to: To,
  f: (old: From["Type"]) => To["Encoded"]
): Schema.decodeTo<To, From> =>
  from.pipe(Schema.decodeTo(to, { decode: SchemaGetter.transform(f), encode: SchemaGetter.forbiddenEncoding }))

type EventOf<Types extends ReadonlyArray<EventType.Any>> = Types[number] extends infer T
  ? T extends EventType<infer Name, infer S> ? Tagged<Name, S["Type"]> : never
  : never

/**
 * Builds a codec from event types. Throws when two types share a name.
 *
 * @example
 * ```ts
 * import { EventCodec } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const CartOpened = EventCodec.type("CartOpened", { schema: Schema.Struct({ customer: Schema.String }) })
 * const ItemAdded = EventCodec.type("ItemAdded", { schema: Schema.Struct({ sku: Schema.String }) })
 * const CartEvents = EventCodec.make([CartOpened, ItemAdded])
 * type CartEvent = EventCodec.Type<typeof CartEvents>
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Types extends ReadonlyArray<EventType.Any>>(
  eventTypes: Types
): EventCodec<EventOf<Types>> => makeCodec(eventTypes) as unknown as EventCodec<EventOf<Types>>

const makeCodec = (eventTypes: ReadonlyArray<EventType.Any>): EventCodec<AnyEvent> => {
  const ctx = CodecContext.make(eventTypes)
  const { encode, encodeAll } = Encode.make(ctx)
  const decodeExit = Decode.makeExit(ctx)
  const decode = Decode.make(decodeExit)
  const { decodeResults, decodeStream, handler } = Decoding.make(decode)

  // Defined here rather than in internal/codec, so the definition frame Effect.fn records for traces
  // stays this module.
  const append = Effect.fn("EventCodec.append")(
    function*(stream: string, events: ReadonlyArray<AnyEvent>, options?: AppendTypedOptions) {
      yield* Effect.annotateCurrentSpan({ "strata.stream": stream, "strata.event.count": events.length })
      const store = yield* EventStore
      const encoded = yield* encodeAll(stream, events, options?.metadata)
      return yield* store.append(stream, encoded, { expected: options?.expected })
    }
  )

  const codec: EventCodec<AnyEvent> = {
    [TypeId]: TypeId,
    eventTypes,
    types: ctx.types,
    encode,
    encodeAll,
    decode,
    decodeStream: decodeStream as EventCodec<AnyEvent>["decodeStream"],
    decodeResults,
    handler: handler as EventCodec<AnyEvent>["handler"],
    append,
    ...Store.make(ctx, decodeStream)
  }
  // Batch paths (projections) decode a batch with the synchronous decoder, without an Effect per event.
  Decode.register(codec, decodeExit)
  return codec
}

/**
 * True for an {@link EventCodec}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isEventCodec = (u: unknown): u is EventCodec<{ readonly _tag: string }> =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * The {@link EventFilter} that selects a codec's event types in the global log.
 *
 * @category constructors
 * @since 0.1.0
 */
export const filter = <E extends { readonly _tag: string }>(codec: EventCodec<E>): EventFilter => ({
  types: codec.types
})
