/**
 * `node --conditions=@strata/source bench/jobs-micro.ts [--backend null|sqlite|floor] [--phase drain|enqueue]
 *   [--jobs 4000] [--rounds 6] [--workers 1] [--prefetch n]`
 *
 * CPU per job of one phase alone (issue 24), for old/new comparisons: the main thread's user +
 * system time, wall time and event-loop idle time per job over the measured phase only, min and
 * median over the rounds after the first (a JIT warm-up). Unlike bench/jobs-profile.ts, the drain's
 * jobs are written beforehand without `JobQueue.enqueue` (multi-row INSERTs, or an array for `null`),
 * so nothing but the drain is timed.
 * - `--phase drain` (default): `--workers` `JobQueue.worker`s of concurrency 8 drain the jobs.
 *   `null`: a store that only hands jobs out (the worker's own CPU); `sqlite`: `SqlJobs` over
 *   `SqliteStore`'s client on a fresh file; `floor`: the bench's hand-written loops (take 8, complete
 *   each).
 *   `--prefetch` sets the workers' `prefetch` (default: the store's).
 * - `--phase enqueue`: `--jobs` enqueues, 4 at once (as bench/Jobs.ts), or the floor's one INSERT each.
 * `STATEMENTS=1` adds the main thread's CPU inside each `node:sqlite` call of the measured phase, by
 * statement; `PROF=<file>` writes a V8 CPU profile of the last measured round (`PROF_INTERVAL` us
 * between samples, default 500).
 */
import { JobQueue, JobStore } from "@strata/core"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector"
import * as Os from "node:os"
import * as Path from "node:path"
import { performance as perf } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { countStatements, drainFloor } from "./JobsFloor.ts"
import { payload } from "./Workloads.ts"

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "4000" },
    rounds: { type: "string", default: "6" },
    workers: { type: "string", default: "1" },
    backend: { type: "string", default: "null" },
    phase: { type: "string", default: "drain" },
    prefetch: { type: "string" }
  }
})
const total = Number(values.jobs)
const workers = Number(values.workers)
const Payload = Schema.Struct({ n: Schema.Number, body: Schema.Unknown })
const text = JSON.stringify({ n: 0, body: payload })

let counting = false
const statements = process.env.STATEMENTS === "1"
  ? countStatements(60, () => counting)
  : new Map<string, { calls: number; us: number }>()
const session = new Inspector.Session()
session.connect()
const post = (method: string, params?: object) =>
  new Promise<any>((resolve, reject) => session.post(method, params, (e, r) => e ? reject(e) : resolve(r)))
let profiling = false
const profStart = async () => {
  if (!process.env.PROF) return
  await post("Profiler.enable")
  await post("Profiler.setSamplingInterval", { interval: Number(process.env.PROF_INTERVAL ?? 500) })
  await post("Profiler.start")
  profiling = true
}
const profiles: Array<any> = []
const profStop = async () => {
  if (!profiling) return
  const { profile } = await post("Profiler.stop")
  profiles.push(profile)
  profiling = false
}

let pending: Array<JobStore.TakenJob> = []
const nullStore = Effect.map(JobStore.makeMemory(), (memory): JobStore.JobStore => ({
  ...memory,
  enqueue: (input) => Effect.succeed({ id: input.id, created: true }),
  take: (input) => Effect.sync(() => pending.splice(0, input.limit)),
  completeMany: (takes) => Effect.sync(() => new Set(takes.map((take) => take.id)))
}))

const cpuMain: Array<number> = []
const wall: Array<number> = []
const idle: Array<number> = []

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* SqlJobs.migrate(SqliteDialect.dialect)
  yield* sql`CREATE TABLE IF NOT EXISTS bench_floor_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
          state TEXT NOT NULL, run_at INTEGER NOT NULL, payload TEXT NOT NULL)`
  yield* sql`CREATE INDEX IF NOT EXISTS bench_floor_jobs_due ON bench_floor_jobs (queue, run_at, id) WHERE state = 'pending'`
  const jobs = JobQueue.fromStore(
    values.backend === "null" ? yield* nullStore : yield* SqlJobs.make({ dialect: SqliteDialect.dialect })
  )
  for (let round = 0; round < Number(values.rounds); round++) {
    const queue = JobQueue.make(`p-${round}`, Payload)
    const now = Date.now()
    if (values.phase === "enqueue") {
      // nothing to fill
    } else if (values.backend === "null") {
      pending = Array.from({ length: total }, (_, i) => ({
        id: `${round}-${i}`,
        queue: queue.name,
        key: undefined,
        payload: text,
        priority: 0,
        attempt: 1,
        runAt: now,
        createdAt: now,
        traceId: "864e3696de2db78aa8fa83e174276005",
        spanId: "1eb7c5841199fcf6"
      }))
    } else if (values.backend === "floor") {
      for (let i = 0; i < total; i += 100) {
        const rows = Array.from({ length: Math.min(100, total - i) }, () => ({
          queue: queue.name,
          state: "pending",
          run_at: now,
          payload: text
        }))
        yield* sql`INSERT INTO bench_floor_jobs ${sql.insert(rows as never)}`
      }
    } else {
      for (let i = 0; i < total; i += 100) {
        const rows = Array.from({ length: Math.min(100, total - i) }, (_, j) => ({
          id: `${round}-${String(i + j).padStart(8, "0")}`,
          queue: queue.name,
          payload: text,
          priority: 0,
          state: "pending",
          run_at: now,
          attempts: 0,
          created_at: now,
          updated_at: now,
          trace_id: "864e3696de2db78aa8fa83e174276005",
          span_id: "1eb7c5841199fcf6"
        }))
        yield* sql`INSERT INTO strata_jobs ${sql.insert(rows as never)}`
      }
    }
    if (round > 0) yield* Effect.promise(profStart)
    counting = round > 0
    const main0 = process.threadCpuUsage()
    const elu0 = perf.eventLoopUtilization()
    const t0 = performance.now()
    if (values.phase === "enqueue") {
      if (values.backend === "floor") {
        yield* Effect.forEach(
          Array.from({ length: total }),
          () =>
            sql`INSERT INTO bench_floor_jobs (queue, state, run_at, payload) VALUES (${queue.name}, 'pending', ${Date.now()}, ${text})`,
          { discard: true, concurrency: 4 }
        )
      } else {
        yield* Effect.forEach(
          Array.from({ length: total }, (_, n) => n),
          (n) => JobQueue.enqueue(queue, { n, body: payload }),
          { discard: true, concurrency: 4 }
        ).pipe(Effect.provideService(JobQueue.JobQueue, jobs))
      }
    } else if (values.backend === "floor") {
      yield* drainFloor("sqlite", queue.name, workers)
    } else {
      const scope = yield* Scope.make()
      let handled = 0
      const all = Deferred.makeUnsafe<void>()
      for (let i = 0; i < workers; i++) {
        yield* JobQueue.worker(queue, () =>
          Effect.sync(() => {
            if (++handled === total) Deferred.doneUnsafe(all, Exit.void)
          }), {
          concurrency: 8,
          pollInterval: "20 millis",
          statsInterval: "1 hour",
          prefetch: values.prefetch === undefined ? undefined : Number(values.prefetch)
        })
          .pipe(Scope.provide(scope), Effect.provideService(JobQueue.JobQueue, jobs))
      }
      yield* Deferred.await(all)
      yield* Effect.sleep("1 millis")
      yield* Scope.close(scope, Exit.void)
    }
    const t1 = performance.now()
    const main = process.threadCpuUsage(main0)
    counting = false
    const elu = perf.eventLoopUtilization(elu0)
    if (round > 0) idle.push(elu.idle * 1000 / total)
    if (round > 0) yield* Effect.promise(profStop)
    if (round > 0) {
      cpuMain.push((main.user + main.system) / total)
      wall.push((t1 - t0) * 1000 / total)
    }
  }
  const med = (v: Array<number>) => Math.round([...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] * 10) / 10
  const min = (v: Array<number>) => Math.round(Math.min(...v) * 10) / 10
  console.log(
    JSON.stringify({
      backend: values.backend,
      mainUsPerJob: { min: min(cpuMain), median: med(cpuMain) },
      wallUsPerJob: { min: min(wall), median: med(wall) },
      idleUsPerJob: { min: min(idle), median: med(idle) }
    })
  )
  const measured = (Number(values.rounds) - 1) * total
  for (const [text, { calls, us }] of [...statements].sort((a, b) => b[1].us - a[1].us).slice(0, 6)) {
    console.log(
      JSON.stringify({
        statement: text,
        callsPerJob: Math.round(calls / measured * 1000) / 1000,
        usPerCall: Math.round(us / calls * 10) / 10,
        usPerJob: Math.round(us / measured * 10) / 10
      })
    )
  }
  if (process.env.PROF) {
    // Merge: keep the last profile.
    Fs.writeFileSync(process.env.PROF, JSON.stringify(profiles[profiles.length - 1]))
  }
})

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-jobs-micro-"))
Effect.runPromise(
  Effect.scoped(program.pipe(Effect.provide(SqliteStore.layer({ filename: Path.join(dir, "jobs.db") }))))
).finally(() => Fs.rmSync(dir, { recursive: true, force: true }))
