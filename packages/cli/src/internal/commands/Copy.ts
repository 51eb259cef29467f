/**
 * `strata copy --from URL --to URL`: the export/import pipe without a file, then a verification
 * (counts per stream and a checksum over ids and payloads).
 *
 * @since 0.1.0
 */
import { Transfer } from "@strata/core"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Connect from "../Connect.ts"
import * as Output from "../Output.ts"
import * as Print from "../Print.ts"
import * as Progress from "../Progress.ts"
import { CheckFailed, UsageError } from "../Usage.ts"
import * as Filters from "./Filters.ts"
import { batchSize, written } from "./Import.ts"

/**
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make("copy", {
  from: Flag.Redacted("from").pipe(
    Flag.withDescription("the source store URL (default: $STRATA_URL)"),
    Flag.optional
  ),
  to: Flag.Redacted("to").pipe(Flag.withDescription("the target store URL"), Flag.optional),
  fromTenant: Flag.String("from-tenant").pipe(
    Flag.withDescription("the source is this tenant's store (from --tenants or $STRATA_TENANTS)"),
    Flag.optional
  ),
  toTenant: Flag.String("to-tenant").pipe(
    Flag.withDescription("the target is this tenant's store (from --tenants or $STRATA_TENANTS)"),
    Flag.optional
  ),
  tenants: Connect.tenants,
  batchSize,
  ...Filters.flags
}, (options) =>
  Effect.scoped(Effect.gen(function*() {
    if (options.batchSize < 1) return yield* new UsageError({ message: "--batch-size must be at least 1" })
    const from = yield* Connect.resolve(
      { url: options.from, schema: Option.none(), tenant: options.fromTenant, tenants: options.tenants },
      { url: "--from", tenant: "--from-tenant", env: true }
    )
    const to = yield* Connect.resolve(
      { url: options.to, schema: Option.none(), tenant: options.toTenant, tenants: options.tenants },
      { url: "--to", tenant: "--to-tenant", env: false }
    )
    const source = yield* Connect.open(from, "read")
    const target = yield* Connect.open(to, "create")
    const filter = Filters.toFilter(options)
    const total = yield* Filters.expected(source.admin, filter)
    yield* Print.note(`copying ${Output.redactUrl(from)} -> ${Output.redactUrl(to)}`)
    const progress = yield* Progress.make({ verb: "copied" })
    const last = yield* Transfer.copy(source.eventStore, target.eventStore, { filter, batchSize: options.batchSize })
      .pipe(Stream.tap(({ events }) => progress.update(events, total)), Stream.runLast)
    const seconds = yield* progress.stop
    const { events, skipped } = last._tag === "Some" ? last.value : { events: 0, skipped: 0 }
    yield* Print.line(
      `copied ${Output.count(events)} events in ${seconds.toFixed(1)} s (${
        Output.count(Math.round(events / Math.max(seconds, 0.001)))
      }/s): ${written(events, skipped)}`
    )
    const v = yield* Transfer.verify(source.eventStore, target.eventStore, { filter })
    yield* Print.line(
      `verification: ${v.streams} streams, ${Output.count(v.sourceEvents)} events in the source, ${
        Output.count(v.targetEvents)
      } in the target; checksum ${v.sourceChecksum} (source) ${
        v.sourceChecksum === v.targetChecksum ? "=" : "!="
      } ${v.targetChecksum} (target)`
    )
    yield* Print.line(
      "positions are the target's own: stream names, versions, ids, types, data and metadata are the source's"
    )
    if (!v.ok) {
      for (const m of v.mismatches) {
        yield* Print.note(
          `  ${m.stream}: ${m.source} events in the source, ${m.target} in the target${
            m.source === m.target ? " (contents differ)" : ""
          }`
        )
      }
      return yield* new CheckFailed({ message: "verification failed: the target differs from the source" })
    }
    yield* Print.line("verification: OK")
  }))).pipe(Command.withDescription("Copy events from one store to another, then verify them"))
