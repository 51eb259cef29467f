// Decoding many events: as a Stream combinator, into Results, or inside a handler of recorded events.
// What happens to an event that does not decode is the caller's `onDecodeError`: fail (the default),
// skip it with a warning, or dead-letter it; a skipped or dead-lettered event is dropped.
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { RecordedEvent } from "../../Event.ts"
import type { Decoded, DecodeOptions, EventCodec, OnDecodeError } from "../../EventCodec.ts"
import type { EventDecodeError } from "../../StoreError.ts"
import type { AnyEvent } from "./context.ts"

export const make = (decode: EventCodec<AnyEvent>["decode"]) => {
  // The decoded event, or undefined when it was skipped or dead-lettered.
  const decodeWith = (onDecodeError: OnDecodeError<any, any> | undefined) => {
    if (onDecodeError === undefined || onDecodeError === "fail") return decode
    const drop = onDecodeError === "skip"
      ? (error: EventDecodeError) =>
        Effect.logWarning("Skipping an event that does not decode").pipe(
          Effect.annotateLogs({
            "strata.stream": error.stream,
            "strata.event.version": String(error.version),
            "strata.event.position": String(error.position),
            "strata.event.id": error.eventId,
            "strata.event.type": error.eventType,
            "strata.event.schema_version": error.schemaVersion,
            "strata.error": error.detail
          })
        )
      : onDecodeError
    return (recorded: RecordedEvent): Effect.Effect<Decoded<AnyEvent> | undefined, any, any> =>
      decode(recorded).pipe(Effect.catchTag("EventDecodeError", (error) => Effect.as(drop(error), undefined)))
  }

  const decodeStream = (options?: DecodeOptions<any, any>) => {
    const decodeOne = decodeWith(options?.onDecodeError)
    return <X, R>(self: Stream.Stream<RecordedEvent, X, R>): Stream.Stream<Decoded<AnyEvent>, any, any> =>
      Stream.filterMapEffect(
        self,
        (recorded) =>
          Effect.map(
            decodeOne(recorded),
            (decoded): Result.Result<Decoded<AnyEvent>, void> =>
              decoded === undefined ? Result.failVoid : Result.succeed(decoded)
          )
      )
  }

  const decodeResults: EventCodec<AnyEvent>["decodeResults"] = (self) =>
    Stream.mapEffect(self, (r) => Effect.result(decode(r)))

  const handler = (
    handle: (event: Decoded<AnyEvent>) => Effect.Effect<void, any, any>,
    options?: DecodeOptions<any, any>
  ) => {
    const decodeOne = decodeWith(options?.onDecodeError)
    return (recorded: RecordedEvent): Effect.Effect<void, any, any> =>
      Effect.flatMap(decodeOne(recorded), (decoded) => decoded === undefined ? Effect.void : handle(decoded))
  }

  return { decodeStream, decodeResults, handler }
}

/** Decodes a stream of recorded events as `options` say (see `make`). */
export type DecodeStream = ReturnType<typeof make>["decodeStream"]
