/**
 * `node --conditions=@strata/source bench/consumer-profile.ts [--contender strata[,reads,...]] [--events 20000]
 *   [--rounds 5] [--profile out.cpuprofile [--interval us]]`
 *
 * CPU per event of contenders of the `consumer` workload (bench/Consumers.ts, issue 23) on SQLite,
 * for profiling: a fresh SqliteStore file, `--events` events over 500 streams, then `--rounds` rounds
 * in which each contender runs once (in an order rotated each round), each run printing events/s and
 * the process's and the main thread's CPU (user + system) per event; at exit, min and median over the
 * rounds after the first (a JIT warm-up). The main thread's CPU leaves out the WAL checkpointer's
 * thread, and the turns of several contenders in one process share a load. `--profile` writes a CPU profile of
 * those rounds only (not the start-up and seeding). Contenders: those of the workload
 * (`floor`, `floorSqlClient`, `bulk`, `strata`, `strataEach`) and parts of `strata`, to attribute its
 * cost:
 * - `upserts`: the upserts alone, through the SqlClient, in one `withTransaction` per 1,000;
 * - `commits`: the same through the store's `Checkpoints.commit` (the transaction, the timeout bound,
 *   the checkpoint row), no read;
 * - `reads`: `Consumer.run` with a handler that does nothing (the read, decoding, the loop, commits);
 * - `floorReads`: `floorSqlClient` without its upserts (the page read, the JSON parse, the checkpoint);
 * - `strataSync`: `strata` with the handler's upsert through `SqliteClient.writeSync` (a savepoint in the
 *   consumer's transaction, the statement as node:sqlite runs it);
 * - `readAll` / `subscribeAll`: the store's read of the consumer's filter, drained chunk by chunk
 *   (`subscribeAll` until the last event).
 */
import { Consumer, EventStore } from "@strata/core"
import { SqliteClient, SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import * as Consumers from "./Consumers.ts"

const { values } = parseArgs({
  options: {
    contender: { type: "string", default: "strata" },
    events: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    profile: { type: "string" },
    // The profiler's sampling interval in microseconds (V8's default is 1,000).
    interval: { type: "string" }
  }
})
const total = Number(values.events)
const rounds = Number(values.rounds)
const file = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-consumer-profile-")), "profile.db")

// The parts of `strata`, by themselves (see the module comment).
const parts: Record<string, Consumers.Contender> = {
  upserts: () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      for (let done = 0; done < total; done += 1000) {
        yield* sql.withTransaction(Effect.forEach(
          Array.from({ length: Math.min(1000, total - done) }, (_, i) => `${Consumers.category}-${(done + i) % 500}`),
          (stream) => Consumers.upsert(sql, stream),
          { discard: true }
        ))
      }
    }),
  commits: (name) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const checkpoints = yield* Consumer.Checkpoints
      for (let done = 0; done < total; done += 1000) {
        yield* checkpoints.commit(
          name,
          BigInt(done + 1000),
          Effect.forEach(
            Array.from({ length: Math.min(1000, total - done) }, (_, i) => `${Consumers.category}-${(done + i) % 500}`),
            (stream) => Consumers.upsert(sql, stream),
            { discard: true }
          )
        )
      }
    }),
  reads: Consumers.strataWith(() => () => Effect.void),
  floorReads: Consumers.floorSqlClientReads,
  strataSync: (name, last) =>
    Effect.flatMap(
      SqliteClient.SqliteClient,
      (client) =>
        Consumers.strataWith(() => (event) =>
          client.writeSync("upsert", ({ prepare }) => {
            prepare(
              `INSERT INTO ${Consumers.table} (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1`
            ).run(event.stream)
          })
        )(name, last)
    ),
  readAll: () =>
    Effect.flatMap(
      EventStore.EventStore,
      (store) => Stream.runDrain(store.readAll({ filter: { categories: [Consumers.category] } }))
    ),
  subscribeAll: (_, last) =>
    Effect.flatMap(EventStore.EventStore, (store) =>
      Stream.runDrain(
        Stream.takeUntil(
          store.subscribeAll({ filter: { categories: [Consumers.category] } }),
          (event) => event.position >= last
        )
      ))
}

const contenders: Record<string, Consumers.Contender> = { ...Consumers.sqliteContenders(file), ...parts }

const main = Effect.gen(function*() {
  const names = values.contender!.split(",")
  for (const name of names) {
    if (contenders[name] === undefined) {
      return yield* Effect.die(new Error(`unknown contender ${name}: ${Object.keys(contenders).join(", ")}`))
    }
  }
  const sql = yield* SqlClient.SqlClient
  const last = yield* Consumers.setUp(total)
  const cpus = new Map(names.map((name) => [name, { process: [] as Array<number>, thread: [] as Array<number> }]))
  const session = new Inspector.Session()
  for (let round = 0; round < rounds; round++) {
    if (round === 1 && values.profile !== undefined) {
      session.connect()
      yield* Effect.promise(() => session.post("Profiler.enable"))
      if (values.interval !== undefined) {
        const interval = Number(values.interval)
        yield* Effect.promise(() => session.post("Profiler.setSamplingInterval", { interval }))
      }
      yield* Effect.promise(() => session.post("Profiler.start"))
    }
    // Several contenders take turns, in an order rotated each round.
    for (let turn = 0; turn < names.length; turn++) {
      const name = names[(turn + round) % names.length]
      yield* sql.unsafe(`DELETE FROM ${Consumers.table}`)
      const cpu = process.cpuUsage()
      const thread = process.threadCpuUsage()
      const started = performance.now()
      yield* contenders[name](`profile-${name}-${round}-${Date.now()}`, last)
      const ms = performance.now() - started
      const used = process.cpuUsage(cpu)
      const usedThread = process.threadCpuUsage(thread)
      const perEvent = (used.user + used.system) / total
      const perEventThread = (usedThread.user + usedThread.system) / total
      if (round > 0) {
        cpus.get(name)!.process.push(perEvent)
        cpus.get(name)!.thread.push(perEventThread)
      }
      console.log(
        `${name} round ${round}: ${Math.round(total / (ms / 1000))} events/s, ${
          perEvent.toFixed(2)
        } us CPU/event (main thread ${perEventThread.toFixed(2)}, wall ${(1000 * ms / total).toFixed(2)})`
      )
    }
  }
  if (values.profile !== undefined && rounds > 1) {
    const { profile } = yield* Effect.promise(() => session.post("Profiler.stop"))
    Fs.writeFileSync(values.profile, JSON.stringify(profile))
    session.disconnect()
  }
  const summary = (samples: ReadonlyArray<number>) => {
    const sorted = [...samples].sort((a, b) => a - b)
    return `min ${sorted[0]?.toFixed(2)} median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(2)}`
  }
  for (const [name, { process, thread }] of cpus) {
    console.log(`${name}: us CPU/event ${summary(process)}; main thread ${summary(thread)}`)
  }
})

Effect.runPromise(Effect.scoped(main).pipe(Effect.provide(SqliteStore.layer({ filename: file })))).catch(
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
