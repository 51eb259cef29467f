/**
 * `strata migrate`: apply pending migrations; `--check` fails when some are pending;
 * `strata migrate status` lists the applied ones and the pending ones.
 *
 * @since 0.1.0
 */
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Connect from "../Connect.ts"
import * as Print from "../Print.ts"
import { CheckFailed } from "../Usage.ts"

const parent = Command.make("migrate", {
  check: Flag.Boolean("check").pipe(
    Flag.withDescription("apply nothing; fail (exit 1) when migrations are pending"),
    Flag.withDefault(false)
  )
}).pipe(Command.withSharedFlags({ url: Connect.url }))

const status = Command.make("status", {}, () =>
  Effect.scoped(Effect.gen(function*() {
    const { url } = yield* parent
    const { admin } = yield* Connect.open(url, "inspect")
    const { applied, pending } = yield* admin.migrationStatus
    if (applied.length === 0 && pending.length === 0) {
      return yield* Print.line(`the ${admin.backend} backend has no schema migrations`)
    }
    for (const m of applied) {
      yield* Print.line(`applied  ${String(m.id).padStart(4, "0")} ${m.name}  ${m.appliedAt ?? ""}`)
    }
    for (const m of pending) yield* Print.line(`pending  ${String(m.id).padStart(4, "0")} ${m.name}`)
  }))).pipe(Command.withDescription("List the migrations applied and those pending"))

/**
 * @category commands
 * @since 0.1.0
 */
export const command = parent.pipe(
  Command.withHandler(({ check, url }) =>
    Effect.scoped(Effect.gen(function*() {
      // --check changes nothing (a missing SQLite file is an error); migrate may make a new store.
      const { admin } = yield* Connect.open(url, check ? "inspect" : "migrate")
      if (check) {
        const { applied, pending } = yield* admin.migrationStatus
        if (pending.length > 0) {
          return yield* new CheckFailed({
            message: `${pending.length} migration(s) pending: ${
              pending.map((m) => `${m.id} ${m.name}`).join(", ")
            } (run strata migrate)`
          })
        }
        return yield* Print.line(`schema is current (${applied.length} migration(s) applied)`)
      }
      const done = yield* admin.migrate
      yield* Print.line(
        done.length === 0 ? "schema is current: nothing to apply" : `applied migration(s) ${done.join(", ")}`
      )
    }))
  ),
  Command.withDescription("Apply pending schema migrations"),
  Command.withSubcommands([status])
)
