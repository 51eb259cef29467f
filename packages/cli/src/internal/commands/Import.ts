/**
 * `strata import < file`: lines of the Transfer line format from stdin into the store. Idempotent
 * by event id: after a crash, run it again on the same file and it writes only what is missing.
 *
 * @since 0.1.0
 */
import { Transfer } from "@strata/core"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Connect from "../Connect.ts"
import { Io } from "../Io.ts"
import * as Output from "../Output.ts"
import * as Print from "../Print.ts"
import * as Progress from "../Progress.ts"
import { UsageError } from "../Usage.ts"

/**
 * The `--batch-size` flag of `import` and `copy`.
 *
 * @category flags
 * @since 0.1.0
 */
export const batchSize = Flag.Int("batch-size").pipe(
  Flag.withDescription("events per atomic write (default 500); keep it the same when resuming"),
  Flag.withDefault(500)
)

/**
 * How many of a load's events were written, and how many were there already (a rerun's replays).
 *
 * @category formatting
 * @since 0.1.0
 */
export const written = (events: number, skipped: number): string =>
  `${Output.count(events - skipped)} written, ${Output.count(skipped)} already present${
    skipped > 0 ? " (skipped)" : ""
  }`

/**
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make(
  "import",
  { ...Connect.flags, batchSize },
  (options) =>
    Effect.scoped(Effect.gen(function*() {
      if (options.batchSize < 1) return yield* new UsageError({ message: "--batch-size must be at least 1" })
      const io = yield* Io
      const stdin = io.stdin()
      if (stdin.isTTY === true) {
        return yield* new UsageError({
          message: "strata import reads events from stdin: strata import < events.ndjson"
        })
      }
      const { eventStore } = yield* Connect.open(yield* Connect.resolve(options), "create")
      // stdin's size when it is a regular file, to estimate a total for the ETA.
      const size = io.stdinSize()
      let bytes = 0
      stdin.setEncoding("utf8")
      const text = Stream.fromAsyncIterable(
        stdin as AsyncIterable<string>,
        (cause) => new UsageError({ message: `cannot read stdin: ${String(cause)}` })
      ).pipe(Stream.tap((chunk) => Effect.sync(() => void (bytes += Buffer.byteLength(chunk)))))
      const progress = yield* Progress.make({ verb: "imported" })
      const last = yield* Transfer.load(eventStore, Transfer.parseLines(text), { batchSize: options.batchSize }).pipe(
        Stream.tap(({ events }) =>
          progress.update(
            events,
            size === undefined || bytes === 0 ? undefined : Math.max(events, Math.round(events * size / bytes))
          )
        ),
        Stream.runLast
      )
      const seconds = yield* progress.stop
      const { events, skipped } = last._tag === "Some" ? last.value : { events: 0, skipped: 0 }
      yield* Print.line(`imported ${events} events in ${seconds.toFixed(1)} s: ${written(events, skipped)}`)
    }))
).pipe(Command.withDescription("Read events (the export format) from stdin into the store; safe to re-run"))
