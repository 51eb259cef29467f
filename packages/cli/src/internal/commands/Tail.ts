/**
 * `strata tail`: live events, pretty or NDJSON (`--json`, the export line format), until Ctrl-C.
 *
 * @since 0.1.0
 */
import { Event, EventStore, Transfer } from "@strata/core"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Connect from "../Connect.ts"
import * as Output from "../Output.ts"
import * as Print from "../Print.ts"
import * as Signals from "../Signals.ts"
import { list, UsageError, wholeNumber } from "../Usage.ts"

const from = (text: string): Effect.Effect<EventStore.SubscribeFrom, UsageError> => {
  if (text === "start" || text === "end") return Effect.succeed(text)
  return Effect.map(
    Effect.mapError(
      wholeNumber("--from", text),
      () =>
        new UsageError({
          message: `--from must be start, end or a position (a whole number), got ${JSON.stringify(text)}`
        })
    ),
    // --from N includes N.
    (n) => n === 0n ? "start" as const : { after: n - 1n }
  )
}

/**
 * An event's data as the pretty tail prints it: its JSON, or for a binary event what it is
 * (`<2,048 bytes, image/png>`): raw bytes on a terminal are noise, and a JSON rendering of the
 * array (`{"0":137,...}`) is a lie. `--json` carries the bytes themselves (base64, the line format).
 *
 * @category formatting
 * @since 0.1.0
 */
export const data = (event: Pick<Event.RecordedEvent, "data" | "contentType">): string =>
  Event.isBinary(event)
    ? `<${Output.count(event.data.length)} byte${event.data.length === 1 ? "" : "s"}, ${
      event.contentType ?? Event.defaultContentType
    }>`
    : JSON.stringify(event.data)

/**
 * One event as the pretty tail prints it: `time #position stream@version type data`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const pretty = (event: Event.RecordedEvent): string =>
  `${event.createdAt.toISOString()} #${event.position} ${event.stream}@${event.version} ${event.type} ${data(event)}`

/**
 * What a tail follows, as its note says it: `all streams`, `stream cart-1`, `streams of category
 * cart, order`, each with `, only type(s) A, B` when types are given.
 *
 * @category formatting
 * @since 0.1.0
 */
export const following = (
  stream: string | undefined,
  categories: ReadonlyArray<string> | undefined,
  types: ReadonlyArray<string> | undefined
): string => {
  const streams = stream !== undefined
    ? `stream ${stream}${categories === undefined ? "" : ` (if of category ${categories.join(", ")})`}`
    : categories !== undefined
    ? `streams of category ${categories.join(", ")}`
    : "all streams"
  return types === undefined ? streams : `${streams}, only type${types.length === 1 ? "" : "s"} ${types.join(", ")}`
}

/**
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make("tail", {
  ...Connect.flags,
  stream: Flag.String("stream").pipe(Flag.withDescription("one stream only"), Flag.optional),
  type: Flag.String("type").pipe(Flag.withDescription("event types, comma-separated"), Flag.optional),
  category: Flag.String("category").pipe(Flag.withDescription("stream categories, comma-separated"), Flag.optional),
  from: Flag.String("from").pipe(
    Flag.withDescription("start, end (default) or a position (a version with --stream) to start at"),
    Flag.withDefault("end")
  ),
  json: Flag.Boolean("json").pipe(
    Flag.withDescription("one JSON line per event (the export format)"),
    Flag.withDefault(false)
  )
}, (options) =>
  Effect.scoped(Effect.gen(function*() {
    const start = yield* from(options.from)
    const types = list(Option.getOrUndefined(options.type))
    const categories = list(Option.getOrUndefined(options.category))
    const { eventStore } = yield* Connect.open(yield* Connect.resolve(options), "read")
    const stream = Option.getOrUndefined(options.stream)
    const events: Stream.Stream<Event.RecordedEvent, EventStore.ReadError> = stream === undefined
      ? (yield* EventStore.establishAll({ from: start, filter: { types, categories } }).pipe(
        Effect.provideService(EventStore.EventStore, eventStore)
      )).events
      : Stream.filter(
        (yield* EventStore.establish(stream, { from: start }).pipe(
          Effect.provideService(EventStore.EventStore, eventStore)
        )).events,
        (event) =>
          (types === undefined || types.includes(event.type)) &&
          (categories === undefined || categories.some((c) => event.stream === c || event.stream.startsWith(`${c}-`)))
      )
    // Ctrl-C (or SIGTERM) ends the tail normally, exit status 0: listening before the note says so.
    const stopped = yield* Signals.stopOnSignal
    yield* Print.note(`following ${following(stream, categories, types)} (Ctrl-C to stop)`)
    yield* Effect.raceFirst(
      Stream.runForEach(events, (event) =>
        Print.line(options.json ? Transfer.encodeLine(Transfer.fromRecorded(event)) : pretty(event))),
      stopped
    )
  }))).pipe(Command.withDescription("Print events as they are appended, until Ctrl-C"))
