/**
 * `strata export [--type T] [--category C] [--stream-prefix P] > file`: every event (or the
 * filtered ones) as lines of the Transfer line format on stdout, progress on stderr.
 *
 * @since 0.1.0
 */
import { Transfer } from "@strata/core"
import { Command } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Connect from "../Connect.ts"
import * as Print from "../Print.ts"
import * as Progress from "../Progress.ts"
import * as Filters from "./Filters.ts"

/**
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make(
  "export",
  { ...Connect.flags, ...Filters.flags },
  (options) =>
    Effect.scoped(Effect.gen(function*() {
      const { admin, eventStore } = yield* Connect.open(yield* Connect.resolve(options), "read")
      const filter = Filters.toFilter(options)
      const total = yield* Filters.expected(admin, filter)
      const progress = yield* Progress.make({ verb: "exported" })
      let done = 0
      yield* Transfer.exportLines(eventStore, { filter }).pipe(
        Stream.grouped(256),
        Stream.runForEach((lines) =>
          Effect.andThen(Print.stdout(lines.join("")), () => {
            done += lines.length
            return progress.update(done, total)
          })
        )
      )
      const seconds = yield* progress.stop
      yield* Print.note(`exported ${done} events in ${seconds.toFixed(1)} s`)
    }))
).pipe(Command.withDescription("Write events to stdout, one JSON line each (see the README for the format)"))
