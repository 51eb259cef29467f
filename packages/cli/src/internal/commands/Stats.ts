/**
 * `strata stats`: what the store holds, for a dashboard or a quick look: streams, events, head
 * position, events by type and category, consumers with checkpoint and lag, database size. With
 * `--all-tenants`, the same for every tenant of the resolver, one after another.
 *
 * @since 0.1.0
 */
import type { StoreAdmin } from "@strata/core"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Connect from "../Connect.ts"
import * as Output from "../Output.ts"
import * as Print from "../Print.ts"

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => {
  const widths = rows.reduce<Array<number>>(
    (w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)),
    []
  )
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  "))
}

// One store's statistics; `tenant` is printed with them when the store is a tenant's.
const stats = (url: Redacted.Redacted<string>, json: boolean, tenant: string | undefined) =>
  Effect.gen(function*() {
    const { admin } = yield* Connect.open(url, "read")
    const stats = yield* admin.stats
    const consumers = yield* admin.checkpoints.pipe(
      Effect.map((list): ReadonlyArray<StoreAdmin.CheckpointInfo> | string => list),
      Effect.catchTag("Unsupported", (error) => Effect.succeed(error.detail))
    )
    const store = Output.redactUrl(url)
    if (json) {
      return yield* Print.line(JSON.stringify({
        ...(tenant === undefined ? {} : { tenant }),
        store,
        backend: admin.backend,
        ...stats,
        head: stats.head?.toString() ?? null,
        databaseBytes: stats.databaseBytes ?? null,
        consumers: typeof consumers === "string"
          ? null
          : consumers.map((c) => ({ name: c.name, position: c.position.toString(), lag: c.lag }))
      }))
    }
    const lines = [
      ...table([
        ...(tenant === undefined ? [] : [["tenant", tenant]]),
        ["store", `${store} (${admin.backend})`],
        ["streams", Output.count(stats.streams)],
        ["events", Output.count(stats.events)],
        ["head", stats.head === undefined ? "-" : stats.head.toString()],
        ["database", stats.databaseBytes === undefined ? "unknown" : Output.bytes(stats.databaseBytes)]
      ]),
      "",
      "events by type",
      ...table(stats.byType.map(({ count, key }) => [`  ${key}`, Output.count(count)])),
      "",
      "events by category",
      ...table(stats.byCategory.map(({ count, key }) => [`  ${key}`, Output.count(count)])),
      "",
      ...(typeof consumers === "string"
        ? [`consumers: ${consumers}`]
        : consumers.length === 0
        ? ["consumers: none"]
        : [
          "consumers",
          ...table([
            ["  name", "checkpoint", "lag"],
            ...consumers.map((c) => [`  ${c.name}`, c.position.toString(), Output.count(c.lag)])
          ])
        ])
    ]
    yield* Print.stdout(lines.map((l) => `${l}\n`).join(""))
  })

/**
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make("stats", {
  ...Connect.flags,
  allTenants: Connect.allTenants,
  json: Flag.Boolean("json").pipe(
    Flag.withDescription("one JSON object (with --all-tenants, one per tenant and line)"),
    Flag.withDefault(false)
  )
}, (options) =>
  options.allTenants
    ? Effect.gen(function*() {
      let first = true
      yield* Connect.eachTenant(options, { json: options.json }, (url, tenant) =>
        Effect.gen(function*() {
          if (!first && !options.json) yield* Print.line("")
          first = false
          yield* stats(url, options.json, tenant)
        }))
    })
    : Effect.scoped(Effect.gen(function*() {
      const url = yield* Connect.resolve(options)
      yield* stats(url, options.json, Option.getOrUndefined(options.tenant))
    }))).pipe(
    Command.withDescription(
      "Streams, events, head, events by type and category, consumers, database size (--all-tenants: for each tenant)"
    )
  )
