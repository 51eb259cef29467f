// The multi-process job-queue scenario, shared by packages/sqlite and packages/postgres
// (JobProcesses.test.ts) and bench/jobs-processes.ts: 4 workers as OS processes (jobWorker.ts) on
// one database, jobs that fail at random, two workers SIGKILLed while they hold jobs. Every job
// must end succeeded or dead, no job may run in two places at once, none may be lost, and no job
// may start before it is due.
import { JobQueue } from "@strata/core"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import type { Target } from "./GroupProcesses.ts"
import { Work } from "./jobWorkerSchema.ts"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")
const node = Path.join(root, "node_modules", ".bin", "node")
const workerPath = Path.join(import.meta.dirname, "jobWorker.ts")

/** A running worker process. */
export interface WorkerProcess {
  readonly id: string
  readonly child: ChildProcess.ChildProcess
  readonly exited: Promise<number | string | null>
  readonly output: () => string
}

/** Starts a worker process. */
export const spawnWorker = (
  target: Target,
  options: {
    readonly queue: string
    readonly worker: string
    readonly concurrency: number
    readonly leaseMs: number
    readonly maxAttempts: number
    readonly failPercent: number
    readonly handlerMs: number
    readonly pollMs: number
  }
): WorkerProcess => {
  const child = ChildProcess.spawn(node, ["--conditions=@strata/source", workerPath], {
    env: {
      ...process.env,
      STRATA_BACKEND: target.backend,
      STRATA_TARGET: target.target,
      QUEUE: options.queue,
      WORKER: options.worker,
      CONCURRENCY: String(options.concurrency),
      LEASE_MS: String(options.leaseMs),
      MAX_ATTEMPTS: String(options.maxAttempts),
      FAIL_PERCENT: String(options.failPercent),
      HANDLER_MS: String(options.handlerMs),
      POLL_MS: String(options.pollMs)
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
  return { id: options.worker, child, exited, output: () => output }
}

/** The table the workers record their handler runs in. */
export const createRuns = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      sql`CREATE TABLE job_runs (id bigserial PRIMARY KEY, job_id text NOT NULL, attempt integer NOT NULL,
        worker text NOT NULL, started_at bigint NOT NULL, run_at bigint NOT NULL, ended_at bigint, outcome text)`,
    orElse: () =>
      sql`CREATE TABLE job_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, attempt INTEGER NOT NULL,
        worker TEXT NOT NULL, started_at INTEGER NOT NULL, run_at INTEGER NOT NULL, ended_at INTEGER, outcome TEXT)`
  })
})

interface Run {
  readonly job_id: string
  readonly attempt: number
  readonly worker: string
  readonly started_at: number
  readonly run_at: number
  readonly ended_at: number | undefined
  readonly outcome: string | undefined
}

/** What the scenario saw. */
export interface JobScenarioResult {
  readonly total: number
  readonly succeeded: number
  readonly dead: number
  /** Jobs not in a final state at the end (lost or stuck). */
  readonly unfinished: ReadonlyArray<string>
  /** Jobs with two runs whose handler intervals overlap. */
  readonly concurrent: ReadonlyArray<string>
  /** Succeeded jobs without a succeeded run, dead jobs whose last run succeeded. */
  readonly wrongFinal: ReadonlyArray<string>
  /** Runs that started before the job was due. */
  readonly early: number
  /** Runs cut short by a SIGKILL. */
  readonly killedRuns: number
  /** Jobs whose run was cut short by a kill and that another worker ran again. */
  readonly retaken: number
  readonly byWorker: Record<string, number>
  readonly seconds: number
  readonly outputs: ReadonlyArray<string>
}

/**
 * The scenario: `jobs` jobs (a tenth of them delayed by up to a second), 4 workers of concurrency
 * 4 (handlers of 10 ms, 150 ms for the two to be killed); once a fifth of the jobs are done, two workers are SIGKILLed (holding jobs); the two left
 * finish everything, taking over the killed workers' jobs when their leases expire. Needs
 * `JobQueue` and `SqlClient` on the same database as `target`.
 */
export const jobScenario = (target: Target, options: { readonly jobs: number; readonly timeoutMs?: number }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const queueName = `q${Math.random().toString(16).slice(2, 10)}`
    const queue = JobQueue.make(queueName, Work)
    const leaseMs = 1_000
    yield* createRuns
    const started = Date.now()
    for (let n = 0; n < options.jobs; n++) {
      yield* JobQueue.enqueue(queue, { n }, n % 10 === 0 ? { delay: (n * 7) % 1_000 } : undefined)
    }
    const workers = Array.from({ length: 4 }, (_, i) =>
      spawnWorker(target, {
        queue: queueName,
        worker: `w${i + 1}`,
        concurrency: 4,
        leaseMs,
        maxAttempts: 3,
        failPercent: 30,
        // The two to be killed run slower handlers: a run is still in progress when the SIGKILL lands
        // after the poll below saw it (at 10 ms a loaded machine let every run end first: killedRuns 0).
        handlerMs: i < 2 ? 150 : 10,
        pollMs: 100
      }))
    const outputs = () => workers.map((w) => `--- ${w.id}\n${w.output()}`)
    const finished = Effect.map(JobQueue.stats(queueName), (stats) => stats.pending + stats.running === 0)
    const done = Effect.map(
      sql<{ n: unknown }>`SELECT count(*) AS n FROM job_runs WHERE outcome IS NOT NULL`,
      (rows) => Number(rows[0].n)
    )
    const until = Date.now() + (options.timeoutMs ?? 60_000)
    let killedAt = 0
    yield* Effect.gen(function*() {
      // Kill two workers while they hold jobs: once a fifth of the jobs ran.
      while ((yield* done) < options.jobs / 5) {
        if (Date.now() > until) return yield* Effect.die(new Error(`no progress:\n${outputs().join("\n")}`))
        yield* Effect.sleep("20 millis")
      }
      // ... at a moment when both are inside a handler (a run started and not ended).
      const holding = sql<{ worker: string }>`SELECT DISTINCT worker FROM job_runs
WHERE outcome IS NULL AND worker IN ('w1', 'w2')`
      while ((yield* holding).length < 2 && Date.now() < until) yield* Effect.sleep("2 millis")
      killedAt = Date.now()
      workers[0].child.kill("SIGKILL")
      workers[1].child.kill("SIGKILL")
      yield* Effect.promise(() => Promise.all([workers[0].exited, workers[1].exited]))
      while (!(yield* finished)) {
        if (Date.now() > until) {
          const stats = yield* JobQueue.stats(queueName)
          return yield* Effect.die(
            new Error(`jobs left unfinished: ${JSON.stringify(stats)}\n${outputs().join("\n").slice(-8_000)}`)
          )
        }
        yield* Effect.sleep("50 millis")
      }
    }).pipe(
      Effect.ensuring(Effect.promise(async () => {
        for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGKILL")
        await Promise.all(workers.map((w) => w.exited))
      }))
    )
    const seconds = (Date.now() - started) / 1000

    const jobs = yield* JobQueue.list({ queue: queueName, limit: options.jobs * 2 })
    const runs =
      (yield* sql<Record<string, unknown>>`SELECT job_id, attempt, worker, started_at, run_at, ended_at, outcome
FROM job_runs ORDER BY id`).map((row): Run => ({
        job_id: String(row.job_id),
        attempt: Number(row.attempt),
        worker: String(row.worker),
        started_at: Number(row.started_at),
        run_at: Number(row.run_at),
        ended_at: row.ended_at === null ? undefined : Number(row.ended_at),
        outcome: row.outcome === null ? undefined : String(row.outcome)
      }))
    const runsOf = new Map<string, Array<Run>>()
    for (const run of runs) runsOf.set(run.job_id, [...(runsOf.get(run.job_id) ?? []), run])
    const concurrent: Array<string> = []
    const wrongFinal: Array<string> = []
    let killedRuns = 0
    let retaken = 0
    for (const job of jobs) {
      const list = (runsOf.get(job.id) ?? []).slice().sort((a, b) => a.started_at - b.started_at)
      for (let i = 1; i < list.length; i++) {
        const previous = list[i - 1]
        if (previous.ended_at !== undefined && list[i].started_at < previous.ended_at) concurrent.push(job.id)
        // A killed run has no end: it lasted until its worker died, and nobody may have started the
        // job again before that.
        if (previous.ended_at === undefined && list[i].started_at < killedAt) concurrent.push(job.id)
      }
      killedRuns += list.filter((run) => run.outcome === undefined).length
      // Taken again after the kill (run again, or dead because the killed run was its last attempt).
      if (list.some((run) => run.outcome === undefined && job.attempts > run.attempt)) retaken++
      const last = list[list.length - 1]
      if (job.state === "succeeded" && !list.some((run) => run.outcome === "succeeded")) wrongFinal.push(job.id)
      if (job.state === "dead" && last?.outcome === "succeeded") wrongFinal.push(job.id)
    }
    const byWorker: Record<string, number> = {}
    for (const run of runs) byWorker[run.worker] = (byWorker[run.worker] ?? 0) + 1
    return {
      total: jobs.length,
      succeeded: jobs.filter((job) => job.state === "succeeded").length,
      dead: jobs.filter((job) => job.state === "dead").length,
      unfinished: jobs.filter((job) => job.state !== "succeeded" && job.state !== "dead").map((job) => job.id),
      concurrent,
      wrongFinal,
      early: runs.filter((run) => run.started_at < run.run_at).length,
      killedRuns,
      retaken,
      byWorker,
      seconds,
      outputs: outputs()
    } satisfies JobScenarioResult
  })
