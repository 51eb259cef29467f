// The one small context the parts of an EventCodec work over (the model is packages/sql's
// internal/context.ts): its event types by name, each with the decoders of its current and older
// schema versions and the encoder of its current one. `EventCodec.ts` defines the types and builds
// the codec from these parts; none of these modules imports it at run time.
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { EventSchema, EventType } from "../../EventCodec.ts"

/** A codec's events, whatever its types: `make` narrows them for the caller. */
export type AnyEvent = { readonly _tag: string }

export interface Entry {
  readonly eventType: EventType.Any
  /**
   * Synchronous decoders (an event schema needs no services): the parser answers an Exit directly,
   * so decoding one event is a function call, not a fiber step.
   */
  readonly decoders: ReadonlyMap<number, (input: unknown) => Exit.Exit<object, Schema.SchemaError>>
  readonly encoder: (input: unknown) => Effect.Effect<unknown, Schema.SchemaError>
}

export interface CodecContext {
  readonly eventTypes: ReadonlyArray<EventType.Any>
  readonly byName: ReadonlyMap<string, Entry>
  /** The names of the event types, for `EventFilter.types`. */
  readonly types: ReadonlyArray<string>
  /** The names, quoted and listed, for error details. */
  readonly known: string
}

export const isPositiveInteger = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1

export const describe = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Throws when two types share a name. */
export const make = (eventTypes: ReadonlyArray<EventType.Any>): CodecContext => {
  const byName = new Map<string, Entry>()
  for (const eventType of eventTypes) {
    if (byName.has(eventType.name)) {
      throw new Error(`EventCodec.make: event type ${JSON.stringify(eventType.name)} appears twice`)
    }
    const decoders = new Map<number, (input: unknown) => Exit.Exit<object, Schema.SchemaError>>()
    const decoderOf = (schema: EventSchema) => Schema.decodeUnknownExit(schema)
    decoders.set(eventType.version, decoderOf(eventType.schema))
    for (const [from, schema] of eventType.upcasts) decoders.set(from, decoderOf(schema))
    byName.set(eventType.name, {
      eventType,
      decoders,
      encoder: Schema.encodeUnknownEffect(eventType.schema as EventSchema) as (
        input: unknown
      ) => Effect.Effect<unknown, Schema.SchemaError>
    })
  }
  const types: ReadonlyArray<string> = eventTypes.map((t) => t.name)
  const known = types.map((t) => JSON.stringify(t)).join(", ")
  return { eventTypes, byName, types, known }
}
