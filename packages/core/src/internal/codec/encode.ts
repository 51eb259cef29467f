// Encoding: a typed event to a NewEvent of its current schema version, stamped in
// `metadata.schemaVersion` (a binary event for a binary event type), with the tags of its type's
// `tags` function. Whatever does not encode, or not to plain JSON, and tags a store would refuse (or a
// `tags` function that throws) are an InvalidEvent here, before any store sees them.
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Event from "../../Event.ts"
import type { EventMetadata, NewEvent } from "../../Event.ts"
import type { EventCodec, EventType } from "../../EventCodec.ts"
import { InvalidEvent } from "../../StoreError.ts"
import * as Json from "../json.ts"
import { type AnyEvent, type CodecContext, describe } from "./context.ts"

// The event's tags: none when its type has no `tags` function or it gives an empty list, else the
// list (copied, so a later change to it changes nothing encoded), or why it is not a valid one.
const tagsOf = (
  eventType: EventType.Any,
  event: AnyEvent
): Result.Result<ReadonlyArray<string> | undefined, string> => {
  if (eventType.tags === undefined) return Result.succeed(undefined)
  let tags: unknown
  try {
    tags = eventType.tags(event)
  } catch (error) {
    return Result.fail(
      `the tags function of ${eventType.name} threw: ${error instanceof Error ? error.message : describe(error)}`
    )
  }
  const problem = Event.tagsProblem(tags)
  if (problem !== undefined) return Result.fail(`the tags of the ${eventType.name} event: ${problem}`)
  const list = tags as ReadonlyArray<string>
  return Result.succeed(list.length === 0 ? undefined : Array.from(list))
}

export const make = (ctx: CodecContext) => {
  const { byName, known } = ctx

  const encodeAt = (
    stream: string,
    index: number | undefined,
    event: AnyEvent,
    metadata: EventMetadata | undefined
  ): Effect.Effect<NewEvent & { readonly id: string }, InvalidEvent> =>
    Effect.suspend(() => {
      const invalid = (reason: InvalidEvent["reason"], detail: string) =>
        Effect.fail(
          index === undefined
            ? new InvalidEvent({ stream, reason, detail })
            : new InvalidEvent({ stream, index, reason, detail })
        )
      const tag: unknown = typeof event === "object" && event !== null ? event._tag : undefined
      const entry = typeof tag === "string" ? byName.get(tag) : undefined
      if (entry === undefined) {
        return invalid("InvalidType", `${describe(tag)} is not an event type of this codec (it knows ${known})`)
      }
      const { _tag, ...fields } = event as { readonly _tag: string }
      return entry.encoder(fields).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            invalid(
              "NotJson",
              `the ${_tag} event does not encode with its schema (v${entry.eventType.version}): ${error.message}`
            ),
          onSuccess: (data) => {
            const tags = tagsOf(entry.eventType, event)
            if (Result.isFailure(tags)) return invalid("InvalidTags", tags.failure)
            const tagged = <A extends NewEvent>(encoded: A): A =>
              tags.success === undefined ? encoded : { ...encoded, tags: tags.success }
            const contentType = entry.eventType.contentType
            if (contentType !== undefined) {
              // A binary event type: its schema must give bytes.
              return data instanceof Uint8Array
                ? Effect.succeed(tagged(
                  Event.binary(_tag, data, {
                    contentType,
                    metadata: { ...metadata, schemaVersion: entry.eventType.version }
                  })
                ))
                : invalid(
                  "NotJson",
                  `the ${_tag} event type is binary (${contentType}) but its schema encoded to ${
                    data === null ? "null" : typeof data
                  }, not a Uint8Array`
                )
            }
            // Checked here too, so a value a store would refuse (NaN, a Date, ...) fails at encode.
            const problem = Json.check(data)
            return problem === undefined
              ? Effect.succeed(tagged(Event.make(_tag, data, { ...metadata, schemaVersion: entry.eventType.version })))
              : invalid(problem.kind, `the ${_tag} event does not encode to plain JSON: ${problem.detail}`)
          }
        })
      )
    })

  const encode: EventCodec<AnyEvent>["encode"] = (event, metadata) => encodeAt("", undefined, event, metadata)

  const encodeAll: EventCodec<AnyEvent>["encodeAll"] = (stream, events, metadata) =>
    Effect.forEach(events, (event, index) => encodeAt(stream, index, event, metadata))

  return { encode, encodeAll }
}
