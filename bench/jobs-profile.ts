/**
 * `node --conditions=@strata/source [--cpu-prof] bench/jobs-profile.ts [--backend sqlite|memory|null|floor]
 *   [--jobs 2000] [--rounds 5] [--workers 1]`
 *
 * CPU per job of the job queue (issue 24), for profiling: each round enqueues `--jobs` jobs (4 at
 * once) and drains them through `--workers` `JobQueue.worker`s of concurrency 8, and prints jobs/s
 * and the process's CPU time (user + system, every thread) per job for both phases; at exit, min and
 * median over the rounds after the first (a JIT warm-up).
 * - `sqlite` (default): `SqlJobs` over `SqliteStore`'s client on a fresh file, as bench/Jobs.ts.
 *   `BULK_FILL=1` writes the jobs with multi-row INSERTs instead (drain-only profiles).
 * - `memory`: `JobStore.makeMemory()`.
 * - `null`: a store that only hands jobs out (an array): what is left is the worker's own CPU.
 * - `floor`: the bench's hand-written SQL floor (one INSERT per job; loops taking 8 and completing each).
 * `QUIET=1` prints the summary only. CPU is given for every thread (`...CpuUsPerJob`: SQLite's
 * checkpointer and V8's collector included) and for the main thread alone (`...MainUsPerJob`).
 * `STATEMENTS=1` also prints, at exit, the main thread's CPU inside each SQL statement (by its text,
 * every round): what SQLite itself costs per job beside the rest. `JOBS_SQL="DROP INDEX ...; ..."`
 * runs statements after the migrations (schema experiments); `CHECKPOINT=inline` keeps SQLite's own
 * checkpoints instead of the checkpointer thread.
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
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { countStatements, drainFloor } from "./JobsFloor.ts"
import { payload } from "./Workloads.ts"

// The main thread's CPU inside each node:sqlite call, by statement text (STATEMENTS=1).
const statements = process.env.STATEMENTS === "1"
  ? countStatements(80)
  : new Map<string, { calls: number; us: number }>()

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
    workers: { type: "string", default: "1" },
    backend: { type: "string", default: "sqlite" }
  }
})
const total = Number(values.jobs)
const workers = Number(values.workers)
const Payload = Schema.Struct({ n: Schema.Number, body: Schema.Unknown })

// A store that only hands jobs out (a FIFO array): what is left is the worker's own CPU.
const nullStore = Effect.map(JobStore.makeMemory(), (memory): JobStore.JobStore => {
  const pending: Array<JobStore.TakenJob> = []
  let running = 0
  return {
    ...memory,
    enqueue: (input) =>
      Effect.sync(() => {
        pending.push({
          id: input.id,
          queue: input.queue,
          key: input.key,
          payload: input.payload,
          priority: input.priority,
          attempt: 1,
          runAt: input.runAt,
          createdAt: input.now,
          traceId: input.traceId,
          spanId: input.spanId
        })
        return { id: input.id, created: true }
      }),
    take: (input) =>
      Effect.sync(() => {
        const taken = pending.splice(0, input.limit)
        running += taken.length
        return taken
      }),
    completeMany: (takes) =>
      Effect.sync(() => {
        running -= takes.length
        return new Set(takes.map((take) => take.id))
      }),
    stats: () =>
      Effect.sync(() => ({ pending: pending.length, due: pending.length, running, dead: 0, oldestDueAt: undefined }))
  }
})

// The bench's floor (bench/Jobs.ts): one INSERT per job; loops of take-8-then-complete-each.
const floorRound = (round: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (round === 0) {
      yield* sql`CREATE TABLE IF NOT EXISTS bench_floor_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
          state TEXT NOT NULL, run_at INTEGER NOT NULL, payload TEXT NOT NULL)`
      yield* sql`CREATE INDEX IF NOT EXISTS bench_floor_jobs_due ON bench_floor_jobs (queue, run_at, id) WHERE state = 'pending'`
    }
    const name = `f-${round}`
    const text = JSON.stringify({ n: 0, body: payload })
    const cpu0 = process.cpuUsage()
    const main0 = process.threadCpuUsage()
    const t0 = performance.now()
    yield* Effect.forEach(
      Array.from({ length: total }),
      () =>
        sql`INSERT INTO bench_floor_jobs (queue, state, run_at, payload) VALUES (${name}, 'pending', ${Date.now()}, ${text})`,
      { discard: true, concurrency: 4 }
    )
    const t1 = performance.now()
    const cpu1 = process.cpuUsage(cpu0)
    const main1 = process.threadCpuUsage(main0)
    yield* drainFloor("sqlite", name, workers)
    const t2 = performance.now()
    const cpu2 = process.cpuUsage(cpu0)
    const main2 = process.threadCpuUsage(main0)
    report(round, t0, t1, t2, { cpu1, cpu2, main1, main2 })
  })

const seen: Record<string, Array<number>> = {}
// CPU of every thread (SQLite's checkpointer included) and of the main thread alone.
interface Cpu {
  readonly cpu1: NodeJS.CpuUsage
  readonly cpu2: NodeJS.CpuUsage
  readonly main1: NodeJS.CpuUsage
  readonly main2: NodeJS.CpuUsage
}
const report = (round: number, t0: number, t1: number, t2: number, { cpu1, cpu2, main1, main2 }: Cpu) => {
  const us = (c: NodeJS.CpuUsage) => c.user + c.system
  const line = {
    round,
    enqueuePerSecond: Math.round(total / ((t1 - t0) / 1000)),
    enqueueCpuUsPerJob: Math.round(us(cpu1) / total * 10) / 10,
    enqueueMainUsPerJob: Math.round(us(main1) / total * 10) / 10,
    drainPerSecond: Math.round(total / ((t2 - t1) / 1000)),
    drainCpuUsPerJob: Math.round((us(cpu2) - us(cpu1)) / total * 10) / 10,
    drainMainUsPerJob: Math.round((us(main2) - us(main1)) / total * 10) / 10
  }
  if (process.env.QUIET !== "1") console.log(JSON.stringify(line))
  // The first round warms the JIT: left out of the summary.
  if (round > 0) { for (const [k, v] of Object.entries(line)) if (k !== "round") (seen[k] ??= []).push(v) }
}
process.on("exit", () => {
  const summary = Object.fromEntries(
    Object.entries(seen).map(([k, v]) => {
      const sorted = [...v].sort((a, b) => a - b)
      return [k, { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)] }]
    })
  )
  console.log(JSON.stringify(summary))
  for (const [text, { calls, us }] of [...statements].sort((a, b) => b[1].us - a[1].us).slice(0, 8)) {
    console.log(
      JSON.stringify({ statement: text, calls, usPerCall: Math.round(us / calls * 10) / 10, ms: Math.round(us / 1000) })
    )
  }
})

const program = Effect.gen(function*() {
  if (values.backend === "floor") {
    return yield* rounds.pipe(Effect.provideService(JobQueue.JobQueue, undefined as never))
  }
  const jobs = values.backend === "null"
    ? JobQueue.fromStore(yield* nullStore)
    : values.backend === "memory"
    ? JobQueue.fromStore(yield* JobStore.makeMemory())
    : JobQueue.fromStore(yield* SqlJobs.make({ dialect: SqliteDialect.dialect }))
  if (values.backend !== "memory") yield* SqlJobs.migrate(SqliteDialect.dialect)
  // Schema experiments (an index dropped or added) on the migrated tables.
  for (const statement of (process.env.JOBS_SQL ?? "").split(";").filter((text) => text.trim() !== "")) {
    yield* (yield* SqlClient.SqlClient).unsafe(statement)
  }
  yield* rounds.pipe(Effect.provideService(JobQueue.JobQueue, jobs))
})

const rounds = Effect.gen(function*() {
  for (let round = 0; round < Number(values.rounds); round++) {
    const queue = JobQueue.make(`p-${round}`, Payload)
    if (values.backend === "floor") {
      yield* floorRound(round)
      continue
    }
    const cpu0 = process.cpuUsage()
    const main0 = process.threadCpuUsage()
    const t0 = performance.now()
    if (process.env.BULK_FILL === "1") {
      // Drain-only profiles: the jobs written with multi-row INSERTs.
      const sql = yield* SqlClient.SqlClient
      const text = JSON.stringify({ n: 0, body: payload })
      for (let i = 0; i < total; i += 100) {
        const rows = Array.from({ length: Math.min(100, total - i) }, (_, j) => ({
          id: `${round}-${String(i + j).padStart(8, "0")}`,
          queue: queue.name,
          payload: text,
          priority: 0,
          state: "pending",
          run_at: Date.now(),
          attempts: 0,
          created_at: Date.now(),
          updated_at: Date.now()
        }))
        yield* sql`INSERT INTO strata_jobs ${sql.insert(rows as never)}`
      }
    } else {
      yield* Effect.forEach(
        Array.from({ length: total }, (_, n) => n),
        (n) => JobQueue.enqueue(queue, { n, body: payload }),
        { discard: true, concurrency: 4 }
      )
    }
    const t1 = performance.now()
    const cpu1 = process.cpuUsage(cpu0)
    const main1 = process.threadCpuUsage(main0)
    const scope = yield* Scope.make()
    let handled = 0
    const all = Deferred.makeUnsafe<void>()
    for (let i = 0; i < workers; i++) {
      yield* JobQueue.worker(queue, () =>
        Effect.sync(() => {
          if (++handled === total) Deferred.doneUnsafe(all, Exit.void)
        }), { concurrency: 8, pollInterval: "20 millis" })
        .pipe(Scope.provide(scope))
    }
    yield* Deferred.await(all)
    // The last completions: written within a turn or two.
    yield* Effect.sleep("2 millis")
    const t2 = performance.now()
    const cpu2 = process.cpuUsage(cpu0)
    const main2 = process.threadCpuUsage(main0)
    yield* Scope.close(scope, Exit.void)
    report(round, t0, t1, t2, { cpu1, cpu2, main1, main2 })
  }
})

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-jobs-profile-"))
Effect.runPromise(
  Effect.scoped(
    Effect.flatMap(Effect.service(SqlClient.SqlClient), () => program).pipe(
      Effect.provide(SqliteStore.layer({
        filename: Path.join(dir, "jobs.db"),
        ...(process.env.CHECKPOINT === "inline" ? { checkpoint: "inline" as const } : {})
      }))
    )
  )
).finally(() => Fs.rmSync(dir, { recursive: true, force: true }))
