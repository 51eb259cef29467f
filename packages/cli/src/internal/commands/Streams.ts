/**
 * `strata streams info|delete|tombstone NAME`.
 *
 * @since 0.1.0
 */
import { Argument, Command } from "effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Connect from "../Connect.ts"
import * as Print from "../Print.ts"

const name = Argument.String("name").pipe(Argument.withDescription("the stream name"))

const parent = Command.make("streams").pipe(Command.withSharedFlags(Connect.flags))

const info = Command.make("info", { name }, ({ name }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const { eventStore } = yield* Connect.open(url, "read")
    const info = yield* eventStore.streamInfo(name)
    const { maxAge, maxCount, truncateBefore } = info.retention
    yield* Print.line(`stream       ${info.stream}`)
    yield* Print.line(`status       ${info.status}`)
    yield* Print.line(`last version ${info.lastVersion ?? "-"}`)
    const rules = [
      truncateBefore === undefined ? undefined : `truncate before ${truncateBefore}`,
      maxCount === undefined ? undefined : `max count ${maxCount}`,
      maxAge === undefined ? undefined : `max age ${Duration.format(maxAge)}`
    ].filter((rule) => rule !== undefined)
    yield* Print.line(`retention    ${rules.length === 0 ? "none" : rules.join(", ")}`)
  }))).pipe(Command.withDescription("Status, last version and retention of a stream"))

const remove = Command.make("delete", { name }, ({ name }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const { eventStore } = yield* Connect.open(url, "write")
    yield* eventStore.deleteStream(name)
    yield* Print.line(`soft-deleted ${name}: its events are hidden; a new append continues its numbering`)
  }))).pipe(Command.withDescription("Soft delete: hide the events; the stream can be written again"))

const tombstone = Command.make("tombstone", { name }, ({ name }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const { eventStore } = yield* Connect.open(url, "write")
    yield* eventStore.tombstoneStream(name)
    yield* Print.line(`tombstoned ${name}: the name can never be written or read again`)
  }))).pipe(Command.withDescription("Permanent delete: the name is refused forever"))

/**
 * @category commands
 * @since 0.1.0
 */
export const command = parent.pipe(
  Command.withDescription("Inspect or delete a stream"),
  Command.withSubcommands([info, remove, tombstone])
)
