// Decoding one recorded event: its type's decoder for the schema version it was written with (the
// current schema, or the upcast from an older one). Whatever does not decode is an EventDecodeError
// naming the event; decoding never dies.
import * as Effect from "effect/Effect"
import type { Decoded, EventCodec } from "../../EventCodec.ts"
import { EventDecodeError } from "../../StoreError.ts"
import { type AnyEvent, type CodecContext, describe, isPositiveInteger } from "./context.ts"

export const make = (ctx: CodecContext): EventCodec<AnyEvent>["decode"] => {
  const { byName, known } = ctx
  return (recorded) =>
    Effect.suspend(() => {
      const stored: unknown = recorded.metadata?.schemaVersion
      const fail = (schemaVersion: number, detail: string) =>
        Effect.fail(
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
      // Events written without a codec carry no schemaVersion: they count as version 1.
      const schemaVersion = stored === undefined ? 1 : stored
      if (!isPositiveInteger(schemaVersion)) {
        return fail(0, `metadata.schemaVersion must be an integer >= 1, got ${describe(stored)}`)
      }
      const entry = byName.get(recorded.type)
      if (entry === undefined) {
        return fail(schemaVersion, `unknown event type ${JSON.stringify(recorded.type)}; this codec knows ${known}`)
      }
      const current = entry.eventType.version
      const decoder = entry.decoders.get(schemaVersion)
      if (decoder === undefined) {
        return fail(
          schemaVersion,
          schemaVersion > current
            ? `written with schema version ${schemaVersion}, newer than this codec's ${current}: deploy the newer event schema`
            : `no upcast from schema version ${schemaVersion} to ${current}`
        )
      }
      return decoder(recorded.data).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            fail(
              schemaVersion,
              schemaVersion === current
                ? `data does not match the schema: ${error.message}`
                : `data does not upcast from schema version ${schemaVersion} to ${current}: ${error.message}`
            ),
          onSuccess: (value) =>
            Effect.succeed<Decoded<AnyEvent>>({
              ...recorded,
              event: { _tag: recorded.type, ...value } as AnyEvent,
              schemaVersion
            })
        })
      )
    })
}
