/**
 * `strata migrate`: apply pending migrations; `--check` fails when some are pending;
 * `strata migrate status` lists the applied ones and the pending ones. With `--all-tenants`, each
 * for every tenant of the resolver, one after another, each line prefixed with the tenant.
 *
 * @since 0.1.0
 */
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Connect from "../Connect.ts"
import * as Print from "../Print.ts"
import { CheckFailed } from "../Usage.ts"

const parent = Command.make("migrate", {
  check: Flag.Boolean("check").pipe(
    Flag.withDescription("apply nothing; fail (exit 1) when migrations are pending"),
    Flag.withDefault(false)
  )
}).pipe(Command.withSharedFlags({ ...Connect.flags, allTenants: Connect.allTenants }))

// Runs `f` on the store the flags name, or on every tenant's (`--all-tenants`); `prefix` is what
// each of its lines starts with (the tenant, when there are several).
const onStores = <E, R>(
  target: Connect.Target & { readonly allTenants: boolean },
  f: (url: Redacted.Redacted<string>, prefix: string) => Effect.Effect<void, E, R>
) =>
  target.allTenants
    ? Connect.eachTenant(target, { json: false }, (url, tenant) => f(url, `${tenant}: `))
    : Effect.scoped(Effect.flatMap(Connect.resolve(target), (url) =>
      f(
        url,
        Option.match(target.tenant, { onNone: () => "", onSome: (tenant) => `${tenant}: ` })
      )))

const status = Command.make("status", {}, () =>
  Effect.gen(function*() {
    const target = yield* parent
    yield* onStores(target, (url, prefix) =>
      Effect.gen(function*() {
        const { admin } = yield* Connect.open(url, "inspect")
        const { applied, pending } = yield* admin.migrationStatus
        if (applied.length === 0 && pending.length === 0) {
          return yield* Print.line(`${prefix}the ${admin.backend} backend has no schema migrations`)
        }
        for (const m of applied) {
          yield* Print.line(`${prefix}applied  ${String(m.id).padStart(4, "0")} ${m.name}  ${m.appliedAt ?? ""}`)
        }
        for (const m of pending) yield* Print.line(`${prefix}pending  ${String(m.id).padStart(4, "0")} ${m.name}`)
      }))
  })).pipe(Command.withDescription("List the migrations applied and those pending"))

/**
 * @category commands
 * @since 0.1.0
 */
export const command = parent.pipe(
  Command.withHandler((target) =>
    onStores(target, (url, prefix) =>
      Effect.gen(function*() {
        // --check changes nothing (a missing SQLite file is an error); migrate may make a new store.
        const { admin } = yield* Connect.open(url, target.check ? "inspect" : "migrate")
        if (target.check) {
          const { applied, pending } = yield* admin.migrationStatus
          if (pending.length > 0) {
            return yield* new CheckFailed({
              message: `${pending.length} migration(s) pending: ${
                pending.map((m) => `${m.id} ${m.name}`).join(", ")
              } (run strata migrate)`
            })
          }
          return yield* Print.line(`${prefix}schema is current (${applied.length} migration(s) applied)`)
        }
        const done = yield* admin.migrate
        yield* Print.line(
          `${prefix}${
            done.length === 0 ? "schema is current: nothing to apply" : `applied migration(s) ${done.join(", ")}`
          }`
        )
      }))
  ),
  Command.withDescription("Apply pending schema migrations (--all-tenants: for every tenant of the resolver)"),
  Command.withSubcommands([status])
)
