// Decoding one recorded event: its type's decoder for the schema version it was written with (the
// current schema, or the upcast from an older one). Whatever does not decode is an EventDecodeError
// naming the event; decoding never dies.
//
// The work is synchronous (`decodeExit`): batch paths (projections) decode a batch in a plain loop,
// without an Effect step per event; `decode` is the same as an Effect.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { RecordedEvent } from "../../Event.ts"
import type { Decoded, EventCodec } from "../../EventCodec.ts"
import { EventDecodeError } from "../../StoreError.ts"
import { type AnyEvent, type CodecContext, describe, isPositiveInteger } from "./context.ts"

/** Decodes one event synchronously: the decoded event, or the EventDecodeError naming it. */
export type DecodeExit = (recorded: RecordedEvent) => Exit.Exit<Decoded<AnyEvent>, EventDecodeError>

// Module level, not a closure per call: a closure over `recorded` cost every decoded event an
// allocation (a function and its context) for the rare event that fails.
const fail = (recorded: RecordedEvent, schemaVersion: number, detail: string) =>
  Exit.fail(
    new EventDecodeError({
      stream: recorded.stream,
      version: recorded.version,
      position: recorded.position,
      eventId: recorded.id,
      eventType: recorded.type,
      schemaVersion,
      detail
    })
  )

export const makeExit = (ctx: CodecContext): DecodeExit => {
  const { byName, known } = ctx
  return (recorded) => {
    const stored: unknown = recorded.metadata?.schemaVersion
    // Events written without a codec carry no schemaVersion: they count as version 1.
    const schemaVersion = stored === undefined ? 1 : stored
    if (!isPositiveInteger(schemaVersion)) {
      return fail(recorded, 0, `metadata.schemaVersion must be an integer >= 1, got ${describe(stored)}`)
    }
    const entry = byName.get(recorded.type)
    if (entry === undefined) {
      return fail(
        recorded,
        schemaVersion,
        `unknown event type ${JSON.stringify(recorded.type)}; this codec knows ${known}`
      )
    }
    const current = entry.eventType.version
    const decoder = entry.decoders.get(schemaVersion)
    if (decoder === undefined) {
      return fail(
        recorded,
        schemaVersion,
        schemaVersion > current
          ? `written with schema version ${schemaVersion}, newer than this codec's ${current}: deploy the newer event schema`
          : `no upcast from schema version ${schemaVersion} to ${current}`
      )
    }
    const decoded = decoder(recorded.data)
    if (Exit.isFailure(decoded)) {
      const error = Exit.findErrorOption(decoded)
      // A schema that dies (a throwing transformation) is a defect of the schema, as it was as an Effect.
      if (error._tag === "None") return decoded as Exit.Exit<never>
      return fail(
        recorded,
        schemaVersion,
        schemaVersion === current
          ? `data does not match the schema: ${error.value.message}`
          : `data does not upcast from schema version ${schemaVersion} to ${current}: ${error.value.message}`
      )
    }
    const event = { _tag: recorded.type, ...decoded.value } as AnyEvent
    return Exit.succeed<Decoded<AnyEvent>>(
      recorded.tags === undefined && recorded.contentType === undefined
        ? envelope(recorded, event, schemaVersion)
        : { ...recorded, event, schemaVersion }
    )
  }
}

// The decoded event of an event without tags or a content type (nearly all), as one literal: a
// spread copies the recorded event's shape and then grows it by two properties (a second
// allocation, and ~15% slower per decode in a micro-benchmark).
const envelope = (recorded: RecordedEvent, event: AnyEvent, schemaVersion: number): Decoded<AnyEvent> => ({
  id: recorded.id,
  stream: recorded.stream,
  version: recorded.version,
  position: recorded.position,
  type: recorded.type,
  data: recorded.data,
  metadata: recorded.metadata,
  createdAt: recorded.createdAt,
  event,
  schemaVersion
})

// Which sync decoder belongs to which codec: batch paths in core find it here (a codec built some
// other way has none, and is decoded through its `decode`). Not part of the EventCodec interface.
const registry = new WeakMap<object, DecodeExit>()

export const register = (codec: object, decodeExit: DecodeExit): void => {
  registry.set(codec, decodeExit)
}

/** The codec's synchronous decoder when `EventCodec.make` built it. */
export const exitOf = (codec: object): DecodeExit | undefined => registry.get(codec)

export const make = (decodeExit: DecodeExit): EventCodec<AnyEvent>["decode"] => (recorded) =>
  Effect.suspend(() => decodeExit(recorded))
