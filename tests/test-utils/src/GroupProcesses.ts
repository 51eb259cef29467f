// The multi-process consumer-group scenario, shared by packages/sqlite and packages/postgres
// (GroupProcesses.test.ts) and bench/leases.ts: members run as OS processes (groupWorker.ts) on one
// database; some are SIGKILLed mid-batch and restarted, one joins while the others run; every event
// must be handled exactly once overall, each stream in order.
import { ConsumerGroup, Event, EventStore, Lease } from "@strata/core"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")
const node = Path.join(root, "node_modules", ".bin", "node")
const workerPath = Path.join(import.meta.dirname, "groupWorker.ts")

/** Where the members connect. */
export interface Target {
  readonly backend: "sqlite" | "postgres"
  readonly target: string
}

/** A running member process. */
export interface Member {
  readonly id: string
  readonly child: ChildProcess.ChildProcess
  readonly exited: Promise<number | string | null>
  readonly output: () => string
}

/** Starts a member process. */
export const spawnMember = (
  target: Target,
  options: {
    readonly group: string
    readonly member: string
    readonly partitions: number
    readonly ttlMs: number
    readonly category: string
    readonly killAt?: number | undefined
    readonly handlerMs?: number | undefined
  }
): Member => {
  const child = ChildProcess.spawn(node, ["--conditions=@strata/source", workerPath], {
    env: {
      ...process.env,
      STRATA_BACKEND: target.backend,
      STRATA_TARGET: target.target,
      GROUP: options.group,
      MEMBER: options.member,
      PARTITIONS: String(options.partitions),
      TTL_MS: String(options.ttlMs),
      CATEGORY: options.category,
      KILL_AT: String(options.killAt ?? 0),
      HANDLER_MS: String(options.handlerMs ?? 0)
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout.on("data", keep)
  child.stderr.on("data", keep)
  const exited = new Promise<number | string | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code))
  )
  return { id: options.member, child, exited, output: () => output }
}

/** The projection table the members write (no unique key, so a duplicate would show). */
export const createHandled = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      sql`CREATE TABLE handled (seq bigserial PRIMARY KEY, event_id text NOT NULL, stream text NOT NULL,
        version integer NOT NULL, member text NOT NULL, at_ms bigint NOT NULL)`,
    orElse: () =>
      sql`CREATE TABLE handled (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, stream TEXT NOT NULL,
        version INTEGER NOT NULL, member TEXT NOT NULL, at_ms INTEGER NOT NULL)`
  })
})

/** Appends `perStream` events to each of `streams` streams of `category`, interleaved. */
export const appendEvents = (category: string, streams: number, perStream: number, from = 0) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    for (let round = from; round < from + perStream; round++) {
      yield* Effect.forEach(
        Array.from({ length: streams }, (_, s) => s),
        (s) => store.append(`${category}-${s}`, [Event.make("Counted", { round })]),
        { discard: true, concurrency: 4 }
      )
    }
  })

/** How many rows `handled` has, and how many distinct events. */
export const countHandled = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ n: unknown; distinct_events: unknown }>`
    SELECT count(*) AS n, count(DISTINCT event_id) AS distinct_events FROM handled`
  return { rows: Number(rows[0].n), events: Number(rows[0].distinct_events) }
})

/** Streams whose versions, in the order they were handled, are not 0, 1, 2, ... */
export const streamsOutOfOrder = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ stream: string; version: unknown }>`SELECT stream, version FROM handled ORDER BY seq`
  const next = new Map<string, number>()
  const bad = new Set<string>()
  for (const row of rows) {
    const expected = next.get(row.stream) ?? 0
    if (Number(row.version) !== expected) bad.add(row.stream)
    next.set(row.stream, Number(row.version) + 1)
  }
  return Array.from(bad)
})

/** Waits until `count` reaches `total` (or `timeoutMs` passes); returns the last count. */
export const waitForHandled = (total: number, timeoutMs: number) =>
  Effect.gen(function*() {
    const until = Date.now() + timeoutMs
    let last = yield* countHandled
    while (last.events < total && Date.now() < until) {
      yield* Effect.sleep("100 millis")
      last = yield* countHandled
    }
    return last
  })

/** SIGKILLs every member still running. */
export const killAll = (members: Iterable<Member>) =>
  Effect.promise(async () => {
    for (const member of members) {
      if (member.child.exitCode === null && member.child.signalCode === null) member.child.kill("SIGKILL")
    }
    await Promise.all(Array.from(members, (member) => member.exited))
  })

/**
 * The scenario: 3 members on 6 partitions, one SIGKILLs itself mid-batch and is restarted, one is
 * SIGKILLed from outside and restarted, a fourth joins, and more events are appended meanwhile.
 * Needs EventStore and SqlClient on the same database as `target`.
 */
export const killAndJoinScenario = (target: Target) =>
  Effect.gen(function*() {
    const streams = 16
    const partitions = 6
    // A category whose 16 streams cover every partition at least twice, so each member's share of
    // the work (and m2's mid-batch kill below) does not depend on how the random names hash.
    let id = Math.random().toString(16).slice(2, 10)
    const covers = (candidate: string) => {
      const counts = new Array<number>(partitions).fill(0)
      for (let s = 0; s < streams; s++) counts[ConsumerGroup.partitionOf(`acct${candidate}-${s}`, partitions)]++
      return counts.every((n) => n >= 2)
    }
    while (!covers(id)) id = Math.random().toString(16).slice(2, 10)
    const category = `acct${id}`
    yield* createHandled
    const options = { group: `g${id}`, partitions, ttlMs: 1500, category, handlerMs: 1 }
    const members: Array<Member> = []
    const start = (member: string, killAt?: number) => {
      const started = spawnMember(target, { ...options, member, killAt })
      members.push(started)
      return started
    }
    const outputs = () => members.map((m) => `--- ${m.id}\n${m.output()}`)
    const result = yield* Effect.gen(function*() {
      start("m1")
      const m2 = start("m2", 5)
      start("m3")
      // The events arrive once the three members share the partitions two each (before, the first
      // member to start could handle everything alone, and m2 never reached its kill point).
      const leases = yield* Lease.LeaseStore
      const settled = Effect.map(leases.list(`strata.group/${options.group}/partition/`), (held) => {
        const counts = new Map<string, number>()
        for (const lease of held) counts.set(lease.holder, (counts.get(lease.holder) ?? 0) + 1)
        return held.length === partitions && counts.size === 3 && [...counts.values()].every((n) => n === 2)
      })
      const until = Date.now() + 30_000
      while (!(yield* settled)) {
        if (Date.now() > until) {
          return yield* Effect.die(new Error(`the members never shared the partitions:\n${outputs().join("\n")}`))
        }
        yield* Effect.sleep("100 millis")
      }
      yield* appendEvents(category, streams, 20)
      // Bounded, so a group that stops handling fails with every member's output instead of hanging.
      const died = yield* Effect.promise(() => m2.exited).pipe(
        Effect.timeoutOption("40 seconds"),
        Effect.map((exit) => exit._tag === "Some" ? exit.value : "still running after 40 s")
      )
      if (died !== "SIGKILL") {
        return yield* Effect.die(
          new Error(`m2 should have SIGKILLed itself mid-batch; it ${died}:\n${outputs().join("\n").slice(-12_000)}`)
        )
      }
      start("m2-restarted")
      // Once work is under way, kill m1 from outside (wherever it is) and restart it; add m4.
      yield* waitForHandled(120, 25_000)
      const m1 = members[0]
      m1.child.kill("SIGKILL")
      yield* Effect.promise(() => m1.exited)
      start("m1-restarted")
      start("m4")
      yield* appendEvents(category, streams, 8, 20)
      const total = streams * 28
      // Bounded below the test timeout, so a shortfall fails with the members' output.
      const reached = yield* waitForHandled(total, 50_000)
      // Give any late duplicate (a stale member committing after a takeover) time to land.
      yield* Effect.sleep("1 second")
      const final = yield* countHandled
      const outOfOrder = yield* streamsOutOfOrder
      const sql = yield* SqlClient.SqlClient
      const byMember = yield* sql<
        { member: string; n: unknown }
      >`SELECT member, count(*) AS n FROM handled GROUP BY member`
      return {
        total,
        reached,
        final,
        outOfOrder,
        byMember: Object.fromEntries(byMember.map((row) => [row.member, Number(row.n)])),
        outputs: outputs()
      }
    }).pipe(Effect.ensuring(killAll(members)))
    return result
  })
