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
import { UsageError, wholeNumber } from "../Usage.ts"

const parent = Command.make("consumers").pipe(Command.withSharedFlags(Connect.flags))

const list = Command.make("list", {}, () =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const { admin } = yield* Connect.open(url, "read")
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
  ),
  create: Flag.Boolean("create").pipe(
    Flag.withDescription("with --to: give a consumer that has no checkpoint yet one (where it starts)"),
    Flag.withDefault(false)
  )
}, ({ create, name, to }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    // Before opening the store: a mistyped position changes nothing.
    const position = Option.isSome(to) ? yield* wholeNumber("--to", to.value) : undefined
    if (create && position === undefined) {
      return yield* new UsageError({ message: "--create needs --to: the position the new consumer resumes after" })
    }
    const { admin, eventStore } = yield* Connect.open(url, "write")
    // A name without a checkpoint is most likely a typo: refused, so no stray checkpoint is made and
    // the user learns that the consumer they meant was not moved.
    if (!create && Option.isNone(yield* eventStore.loadCheckpoint(name))) {
      return yield* new UsageError({
        message: `no consumer checkpoint named ${JSON.stringify(name)} (strata consumers list shows them${
          position === undefined ? "" : "; --create gives a new consumer one"
        })`
      })
    }
    if (position !== undefined) {
      yield* eventStore.saveCheckpoint(name, position)
      return yield* Print.line(`${name} resumes after position ${position}`)
    }
    yield* admin.deleteCheckpoint(name)
    yield* Print.line(`${name} starts over from the beginning`)
  }))).pipe(Command.withDescription("Move a consumer's checkpoint (stop the consumer first)"))

/**
 * @category commands
 * @since 0.1.0
 */
export const command = parent.pipe(
  Command.withDescription("List consumers or reset one"),
  Command.withSubcommands([list, reset])
)
