/**
 * `node --conditions=@strata/source bench/leases.ts [--part pg|groups|takeover|all] [--backend postgres|sqlite]
 *   [--partitions 8] [--members 1,2,4]`
 *
 * 1. PostgreSQL: the row lease (what `Leases` does) against a session advisory lock, per operation:
 *    acquire + release, renew (row) / liveness probe (advisory: the lock lives with the session), and a
 *    fenced checkpoint commit (a transaction with the fence and the checkpoint upsert; the advisory
 *    variant checks `pg_locks` for the holder's backend pid instead).
 * 2. Consumer groups of OS processes (tests/test-utils/src/groupWorker.ts): throughput with 1, 2 and 4
 *    members on 8 partitions, and the takeover time after the only live member is SIGKILLed (from the
 *    kill to the first event handled by its successor; TTL 2 s).
 *
 * Uses DATABASE_URL (default: the local service at 127.0.0.1:5432) and a scratch database it drops.
 * Prints one JSON object.
 */
import { PgClient } from "@effect/sql-pg"
import { PgStore } from "@strata/postgres"
import { SqliteStore } from "@strata/sqlite"
import * as Group from "@strata/test-utils/GroupProcesses"
import * as Effect from "effect/Effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    part: { type: "string", default: "all" },
    backend: { type: "string", default: "postgres" },
    partitions: { type: "string", default: "8" },
    members: { type: "string", default: "1,2,4" }
  }
})

const adminUrl = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"

const timed = <A, E, R>(runs: number, op: (i: number) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const samples: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const start = performance.now()
      yield* op(i)
      samples.push(performance.now() - start)
    }
    samples.sort((a, b) => a - b)
    const total = samples.reduce((a, b) => a + b, 0)
    return {
      opsPerSecond: Math.round(runs / (total / 1000)),
      p50ms: Number(samples[Math.floor(runs / 2)].toFixed(3)),
      p99ms: Number(samples[Math.floor(runs * 0.99)].toFixed(3))
    }
  })

const withScratchDatabase = <A, E, R>(use: (url: string) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const name = `strata_bench_${Math.random().toString(16).slice(2, 10)}`
    const admin = yield* PgClient.make({ url: Redacted.make(adminUrl) })
    yield* admin.unsafe(`CREATE DATABASE ${name}`)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return yield* use(url.toString()).pipe(
      Effect.ensuring(Effect.orDie(admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`)))
    )
  }).pipe(Effect.scoped)

const pgLeases = (url: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const runs = 2000
    const now = () => BigInt(Date.now())
    // Row lease: the statements of packages/sql/src/Leases.ts.
    const acquire = (name: string, holder: string) =>
      sql`INSERT INTO strata_leases (name, holder, token, expires_at) VALUES (${name}, ${holder}, 1, ${now() + 10_000n})
ON CONFLICT (name) DO UPDATE SET
  token = CASE WHEN strata_leases.expires_at > ${now()} THEN strata_leases.token ELSE strata_leases.token + 1 END,
  holder = excluded.holder, expires_at = excluded.expires_at
WHERE strata_leases.holder = excluded.holder OR strata_leases.expires_at <= ${now()}
RETURNING token, expires_at`
    const release = (name: string, holder: string) =>
      sql`UPDATE strata_leases SET expires_at = 0 WHERE name = ${name} AND holder = ${holder}`
    yield* acquire("bench", "a")
    const row = {
      acquireRelease: yield* timed(runs, (i) => Effect.andThen(acquire(`r${i % 50}`, "a"), release(`r${i % 50}`, "a"))),
      renew: yield* timed(
        runs,
        () =>
          sql`UPDATE strata_leases SET expires_at = ${now() + 10_000n}
WHERE name = 'bench' AND holder = 'a' AND token = 1 AND expires_at > 0 RETURNING token, expires_at`
      ),
      fencedCommit: yield* timed(runs, (i) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`UPDATE strata_leases SET token = token
WHERE name = 'bench' AND holder = 'a' AND token = 1 AND expires_at > 0 RETURNING token, expires_at`
          yield* sql`INSERT INTO strata_checkpoints (name, position) VALUES ('bench', ${BigInt(i)})
ON CONFLICT (name) DO UPDATE SET position = excluded.position`
        })))
    }
    // Advisory lock: held by a session of its own (one pinned connection per lease).
    const session = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
    const pid = Number((yield* session<{ pid: number }>`SELECT pg_backend_pid() AS pid`)[0].pid)
    yield* session`SELECT pg_try_advisory_lock(42)`
    const advisory = {
      acquireRelease: yield* timed(
        runs,
        (i) =>
          Effect.andThen(
            session`SELECT pg_try_advisory_lock(${1000 + (i % 50)})`,
            session`SELECT pg_advisory_unlock(${1000 + (i % 50)})`
          )
      ),
      renew: yield* timed(runs, () => session`SELECT 1`),
      fencedCommit: yield* timed(runs, (i) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND pid = ${pid} AND granted`
          yield* sql`INSERT INTO strata_checkpoints (name, position) VALUES ('bench', ${BigInt(i)})
ON CONFLICT (name) DO UPDATE SET position = excluded.position`
        }))),
      plainCommit: yield* timed(runs, (i) =>
        sql.withTransaction(
          sql`INSERT INTO strata_checkpoints (name, position) VALUES ('bench', ${BigInt(i)})
ON CONFLICT (name) DO UPDATE SET position = excluded.position`
        ))
    }
    return { row, advisory }
  }).pipe(Effect.scoped)

const groupTarget = (
  backend: string,
  use: (
    target: Group.Target
  ) => Effect.Effect<unknown, unknown, SqlClient.SqlClient | import("@strata/core").EventStore.EventStore>
) =>
  backend === "postgres"
    ? withScratchDatabase((url) =>
      use({ backend: "postgres", target: url }).pipe(Effect.provide(PgStore.layer({ url: Redacted.make(url) })))
    )
    : Effect.suspend(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-bench-"))
      const filename = Path.join(dir, "group.db")
      return use({ backend: "sqlite", target: filename }).pipe(
        Effect.provide(SqliteStore.layer({ filename })),
        Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      )
    })

// Throughput: `members` processes share `--partitions` (default 8) partitions of 3,200 events (64 streams x 50).
const throughput = (target: Group.Target, members: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DELETE FROM handled`
    const category = `tp${members}x${Math.random().toString(16).slice(2, 8)}`
    yield* Group.appendEvents(category, 64, 50)
    const spawned: Array<Group.Member> = []
    const start = Date.now()
    for (let m = 0; m < members; m++) {
      spawned.push(
        Group.spawnMember(target, { group: category, member: `m${m}`, partitions: 8, ttlMs: 3000, category })
      )
    }
    const reached = yield* Group.waitForHandled(3200, 120_000).pipe(Effect.ensuring(Group.killAll(spawned)))
    const seconds = (Date.now() - start) / 1000
    return { members, events: reached.events, seconds, eventsPerSecond: Math.round(reached.events / seconds) }
  })

// Takeover: one member holds all 4 partitions; a second stands by (its share is 2, but it can only
// take free partitions); SIGKILL the first, time until the second handles a new event.
const takeover = (target: Group.Target, round: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DELETE FROM handled`
    const category = `to${round}x${Math.random().toString(16).slice(2, 8)}`
    const options = { group: category, partitions: 4, ttlMs: 2000, category }
    const first = Group.spawnMember(target, { ...options, member: "first" })
    yield* Group.appendEvents(category, 8, 1)
    yield* Group.waitForHandled(8, 30_000)
    const second = Group.spawnMember(target, { ...options, member: "second" })
    // Wait until the second member holds its share (2 partitions), so the kill measures a takeover.
    for (let i = 0; i < 300; i++) {
      const held = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM strata_leases
        WHERE holder = 'second' AND name LIKE ${`strata.group/${category}/partition/%`} AND expires_at > ${
        BigInt(Date.now())
      }`
      if (Number(held[0].n) >= 2) break
      yield* Effect.sleep("100 millis")
    }
    yield* sql`DELETE FROM handled`
    first.child.kill("SIGKILL")
    const killedAt = Date.now()
    yield* Effect.promise(() => first.exited)
    yield* Group.appendEvents(category, 8, 1, 1)
    const reached = yield* Group.waitForHandled(8, 30_000).pipe(Effect.ensuring(Group.killAll([first, second])))
    const rows = yield* sql<
      { first: unknown; last: unknown }
    >`SELECT min(at_ms) AS first, max(at_ms) AS last FROM handled`
    // first: the successor's first event; last: every partition taken over.
    return {
      handled: reached.events,
      firstMs: Number(rows[0].first) - killedAt,
      allPartitionsMs: Number(rows[0].last) - killedAt
    }
  })

const groups = (backend: string) =>
  groupTarget(backend, (target) =>
    Effect.gen(function*() {
      yield* Group.createHandled
      const results: Record<string, unknown> = {}
      if (values.part !== "takeover") {
        for (const members of (values.members as string).split(",").map(Number)) {
          results[`throughput_${members}`] = yield* throughput(target, members)
        }
      }
      const takeovers = []
      for (let round = 0; round < 3; round++) takeovers.push(yield* takeover(target, round))
      results["takeover_ttl2s"] = takeovers
      return results
    }))

const main = Effect.gen(function*() {
  const out: Record<string, unknown> = {}
  if (values.part === "pg" || values.part === "all") {
    out["pgLeases"] = yield* withScratchDatabase((url) =>
      pgLeases(url).pipe(Effect.provide(PgStore.layer({ url: Redacted.make(url) })))
    )
  }
  if (values.part === "groups" || values.part === "takeover" || values.part === "all") {
    out[`groups_${values.backend}`] = yield* groups(values.backend as string)
  }
  console.log(JSON.stringify(out, null, 2))
})

Effect.runPromise(main.pipe(Effect.provide(Reactivity.layer))).catch((error) => {
  console.error(error)
  process.exit(1)
})
