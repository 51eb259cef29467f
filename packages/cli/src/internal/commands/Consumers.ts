/**
 * `strata consumers list|reset NAME [--to POSITION]`.
 *
 * @since 0.1.0
 */
import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Connect from "../Connect.ts"
import * as Output from "../Output.ts"
import * as Print from "../Print.ts"
import { wholeNumber } from "../Usage.ts"

const parent = Command.make("consumers").pipe(Command.withSharedFlags({ url: Connect.url }))

const list = Command.make("list", {}, () =>
  Effect.scoped(Effect.gen(function*() {
    const { url } = yield* parent
    const { admin } = yield* Connect.open(url)
    const checkpoints = yield* admin.checkpoints
    if (checkpoints.length === 0) return yield* Print.line("no consumer checkpoints")
    const width = Math.max(4, ...checkpoints.map((c) => c.name.length))
    yield* Print.line(`${"name".padEnd(width)}  checkpoint  lag`)
    for (const c of checkpoints) {
      yield* Print.line(`${c.name.padEnd(width)}  ${c.position.toString().padEnd(10)}  ${Output.count(c.lag)}`)
    }
  }))).pipe(Command.withDescription("Consumers with their checkpoint and lag (events after it)"))

const reset = Command.make("reset", {
  name: Argument.String("name").pipe(Argument.withDescription("the consumer (checkpoint) name")),
  to: Flag.String("to").pipe(
    Flag.withDescription("the position to resume after (default: remove the checkpoint, so it starts over)"),
    Flag.optional
  )
}, ({ name, to }) =>
  Effect.scoped(Effect.gen(function*() {
    const { url } = yield* parent
    const { admin, eventStore } = yield* Connect.open(url)
    if (Option.isSome(to)) {
      const position = yield* wholeNumber("--to", to.value)
      yield* eventStore.saveCheckpoint(name, position)
      return yield* Print.line(`${name} resumes after position ${position}`)
    }
    const existed = yield* admin.deleteCheckpoint(name)
    yield* Print.line(existed ? `${name} starts over from the beginning` : `${name} had no checkpoint`)
  }))).pipe(Command.withDescription("Move a consumer's checkpoint (stop the consumer first)"))

/**
 * @category commands
 * @since 0.1.0
 */
export const command = parent.pipe(
  Command.withDescription("List consumers or reset one"),
  Command.withSubcommands([list, reset])
)
