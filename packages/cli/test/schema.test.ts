/**
 * `strata --url postgres://...?schema=NAME`: the CLI works on the store in that PostgreSQL schema
 * (migrate, import, stats, export), another schema of the same database stays empty, and a hostile
 * schema name is refused as a malformed URL before anything connects.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { PgTestDatabase } from "@strata/test-utils"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { eventFile, oneLineError, parseExport, strata, tempDir } from "./utils.ts"

let base = ""
const scope = Effect.runSync(Scope.make())
const dir = tempDir()
beforeAll(async () => {
  const context = await Effect.runPromise(Layer.buildWithScope(PgTestDatabase.layer, scope))
  base = Context.get(context, PgTestDatabase).connectionString
}, 120_000)
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(dir, { recursive: true, force: true })
})

const inSchema = (schema: string) => {
  const url = new URL(base)
  url.searchParams.set("schema", schema)
  return ["--url", url.toString()]
}

const query = <A extends object>(statement: string) =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(base), maxConnections: 1 })
      return yield* sql.unsafe<A>(statement)
    })).pipe(Effect.provide(Reactivity.layer))
  )

describe("strata on a PostgreSQL schema (?schema=)", () => {
  it("migrate, import, stats and export work in the schema; another schema and public stay empty", async () => {
    const seed = eventFile(dir, "seed.ndjson", { count: 12, streams: 3 })
    const applied = await strata(["migrate", ...inSchema("cli_orders")])
    assert.strictEqual(applied.code, 0, applied.stderr)
    assert.match(applied.stdout, /applied migration\(s\) 1, 2/)
    const imported = await strata(["import", ...inSchema("cli_orders")], { stdin: seed.file, spawn: true })
    assert.strictEqual(imported.code, 0, imported.stderr)
    const stats = JSON.parse((await strata(["stats", "--json", ...inSchema("cli_orders")])).stdout)
    assert.strictEqual(stats.events, 12)
    const exported = await strata(["export", ...inSchema("cli_orders")], { spawn: true })
    assert.strictEqual(exported.code, 0, exported.stderr)
    assert.deepStrictEqual(parseExport(exported.stdout), parseExport(fs.readFileSync(seed.file, "utf8")))

    // Another schema of the same database has no store yet; the tables are in cli_orders only.
    const check = await strata(["migrate", "--check", ...inSchema("cli_billing")])
    oneLineError(check)
    assert.match(check.stderr, /migration\(s\) pending: 1 create_event_store/)
    const rows = await query<{ schema: string; n: number }>(
      `SELECT table_schema AS schema, count(*)::int AS n FROM information_schema.tables
       WHERE table_name = 'strata_events' GROUP BY table_schema`
    )
    assert.deepStrictEqual(rows.map((row) => [row.schema, row.n]), [["cli_orders", 1]])
  }, 120_000)

  it("a hostile schema name is refused as a malformed URL, naming the rule", async () => {
    const url = new URL(base)
    url.searchParams.set("schema", "x\"; DROP SCHEMA public CASCADE; --")
    const result = await strata(["stats", "--url", url.toString()])
    oneLineError(result)
    assert.match(result.stderr, /schema parameter is refused: a schema name is 1 to 49 characters/)
  })
})
