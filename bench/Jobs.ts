/**
 * Processing workloads: job queues (issue 24), SQL backends (run by bench/run.ts after the storage
 * workloads, on the store's own database and SqlClient).
 *
 * `jobs`: drain N jobs already enqueued (~330-byte payloads), in interleaved rounds (order rotated;
 * 3, or `JOB_ROUNDS` from the environment) after one untimed round of every contender, each
 * contender on a queue of its own; jobs/s and the ratio to the floor with the same number of
 * workers:
 * - `floor1` / `floor4`: hand-written SQL through the same SqlClient: 1 or 4 loops, each taking up to
 *   8 due jobs with one `UPDATE ... WHERE id IN (SELECT ... LIMIT 8 FOR UPDATE SKIP LOCKED)` (SQLite:
 *   without the lock clause) and completing each with one `UPDATE` (8 at once), until none is left.
 *   No lease, no attempt count, no error handling: the minimum a SKIP LOCKED queue does.
 * - `strata1` / `strata4`: 1 or 4 `JobQueue.worker`s of concurrency 8 (lease 30 s, poll 20 ms) on
 *   `SqlJobs`, with spans and metrics, timed until the queue reports nothing pending or running.
 * - `persisted1`: Effect's own `PersistedQueue` SQL store (effect/persistence/PersistedQueue,
 *   `layerStoreSql` over the same SqlClient, poll 20 ms), 8 concurrent `take` loops in one process
 *   (the shape of `floor1` and `strata1`), timed until every element was handled. It claims as many
 *   elements per statement as takers are waiting and settles each with a statement of its own. Its
 *   `take` waits for an element, so the loops are interrupted once all are handled (a loop that
 *   awaits `take` until the queue is empty never ends: why an earlier harness saw it "never
 *   return"). A quarter of the jobs (it is slower; its ratio is by jobs/s).
 * - `enqueue`: N enqueues one after another, against one `INSERT` each into the floor's table.
 *
 * `jobLatency`: enqueue to handler start, p50/p99 over 300 jobs enqueued every 5 ms while a worker
 * runs: `woken` when the enqueue happens in the worker's process (it wakes the worker), `polled`
 * when it comes from elsewhere (the worker finds it on its next poll, 100 ms); `persisted`: the
 * same for Effect's PersistedQueue (8 take loops, offers in their process, poll 100 ms).
 */
import { JobQueue } from "@strata/core"
import { PgDialect } from "@strata/postgres"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as PersistedQueue from "effect/persistence/PersistedQueue"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { drainFloor, floorTable } from "./JobsFloor.ts"
import type { Workload } from "./Processing.ts"
import { payload } from "./Workloads.ts"

const Payload = Schema.Struct({ n: Schema.Number, body: Schema.Unknown })

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const spread = (values: ReadonlyArray<number>) => {
  const round = (x: number) => Math.round(x * 1000) / 1000
  return { min: round(Math.min(...values)), median: round(median(values)), max: round(Math.max(...values)) }
}
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] * 100) / 100
}

const dialectOf = (backend: string) => backend === "postgres" ? PgDialect.dialect : SqliteDialect.dialect

const setup = (backend: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = dialectOf(backend)
    yield* SqlJobs.migrate(dialect)
    yield* backend === "postgres"
      ? sql`CREATE TABLE IF NOT EXISTS bench_floor_jobs (id bigserial PRIMARY KEY, queue text NOT NULL,
          state text NOT NULL, run_at bigint NOT NULL, payload text NOT NULL)`
      : sql`CREATE TABLE IF NOT EXISTS bench_floor_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
          state TEXT NOT NULL, run_at INTEGER NOT NULL, payload TEXT NOT NULL)`
    yield* sql.unsafe(
      `CREATE INDEX IF NOT EXISTS bench_floor_jobs_due ON ${floorTable} (queue, run_at, id) WHERE state = 'pending'`
    )
    return JobQueue.fromStore(yield* SqlJobs.make({ dialect, backend }))
  })

const queueName = (tag: string) => `bench-${tag}-${Math.random().toString(16).slice(2, 8)}`

const fill = (jobs: JobQueue.JobQueue["Service"], name: string, total: number) =>
  Effect.forEach(
    Array.from({ length: total }, (_, n) => n),
    (n) => JobQueue.enqueue(JobQueue.make(name, Payload), { n, body: payload }),
    { discard: true, concurrency: 4 }
  ).pipe(Effect.provideService(JobQueue.JobQueue, jobs))

const fillFloor = (name: string, total: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const text = JSON.stringify({ n: 0, body: payload })
    for (let i = 0; i < total; i += 100) {
      const rows = Array.from({ length: Math.min(100, total - i) }, () => ({
        queue: name,
        state: "pending",
        run_at: Date.now(),
        payload: text
      }))
      yield* sql`INSERT INTO ${sql(floorTable)} ${
        sql.insert(rows as unknown as [Record<string, unknown>, ...Array<Record<string, unknown>>])
      }`
    }
  })

// Timed until the last handler ran (a Deferred, not a poll: the floor's loops end when they find
// nothing left), then until the last completions are written (the store's own stats: not
// `JobQueue.stats`, whose queue check lists every queue of the table).
const drainStrata = (jobs: JobQueue.JobQueue["Service"], name: string, workers: number, total: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const queue = JobQueue.make(name, Payload)
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
    while (true) {
      const stats = yield* jobs.store.stats(name, Date.now())
      if (stats.pending + stats.running === 0) break
      yield* Effect.sleep("1 millis")
    }
    yield* Scope.close(scope, Exit.void)
  }).pipe(Effect.provideService(JobQueue.JobQueue, jobs))

// Effect's PersistedQueue over the SqlClient in context (its SQL store creates `effect_queue`).
const persistedLayer = PersistedQueue.layer.pipe(
  Layer.provide(PersistedQueue.layerStoreSql({ pollInterval: "20 millis" }))
)
const persistedShare = 4

// 8 take loops until `total` elements were handled, then interrupted (a take waits for an element).
const drainPersisted = (queue: PersistedQueue.PersistedQueue<typeof Payload.Type>, total: number) =>
  Effect.gen(function*() {
    let handled = 0
    const loops = yield* Effect.forEach(
      Array.from({ length: 8 }),
      () => Effect.forkChild(Effect.forever(queue.take(() => Effect.sync(() => handled++))))
    )
    while (handled < total) yield* Effect.sleep("5 millis")
    for (const loop of loops) yield* Fiber.interrupt(loop)
  })

const time = <E, R>(effect: Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    yield* effect
    return (performance.now() - start) / 1000
  })

const throughput: Workload = {
  name: "jobs",
  run: ({ backend, quick }) =>
    backend !== "postgres" && backend !== "sqlite" ? undefined : Effect.gen(function*() {
      const jobs = yield* setup(backend)
      const scope = yield* Scope.make()
      const factory = yield* Effect.map(
        Layer.buildWithScope(persistedLayer, scope),
        (context) => Context.get(context, PersistedQueue.PersistedQueueFactory)
      )
      const total = quick ? 300 : 2_000
      const persistedTotal = Math.round(total / persistedShare)
      const jobsOf = (name: string) => name === "persisted1" ? persistedTotal : total
      const rounds = quick ? 1 : Number(process.env.JOB_ROUNDS ?? 3)
      const contenders: Record<string, Effect.Effect<number, unknown, SqlClient.SqlClient>> = {
        floor1: Effect.flatMap(Effect.sync(() => queueName("f1")), (name) =>
          Effect.andThen(fillFloor(name, total), time(drainFloor(backend, name, 1)))),
        floor4: Effect.flatMap(
          Effect.sync(() =>
            queueName("f4")
          ),
          (name) => Effect.andThen(fillFloor(name, total), time(drainFloor(backend, name, 4)))
        ),
        strata1: Effect.flatMap(
          Effect.sync(() => queueName("s1")),
          (name) => Effect.andThen(fill(jobs, name, total), time(drainStrata(jobs, name, 1, total)))
        ),
        strata4: Effect.flatMap(
          Effect.sync(() => queueName("s4")),
          (name) => Effect.andThen(fill(jobs, name, total), time(drainStrata(jobs, name, 4, total)))
        ),
        persisted1: Effect.gen(function*() {
          const queue = yield* PersistedQueue.make({ name: queueName("pq"), schema: Payload }).pipe(
            Effect.provideService(PersistedQueue.PersistedQueueFactory, factory)
          )
          yield* Effect.forEach(
            Array.from({ length: persistedTotal }, (_, n) => n),
            (n) => queue.offer({ n, body: payload }),
            { discard: true, concurrency: 4 }
          )
          return yield* time(drainPersisted(queue, persistedTotal))
        }),
        enqueue: time(fill(jobs, queueName("enq"), total).pipe(Effect.provideService(JobQueue.JobQueue, jobs))),
        enqueueFloor: Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const name = queueName("enqf")
          const text = JSON.stringify({ n: 0, body: payload })
          return yield* time(Effect.forEach(
            Array.from({ length: total }),
            () =>
              sql`INSERT INTO ${
                sql(floorTable)
              } (queue, state, run_at, payload) VALUES (${name}, 'pending', ${Date.now()}, ${text})`,
            { discard: true, concurrency: 4 }
          ))
        })
      }
      const names = Object.keys(contenders)
      // Untimed: JIT and statement caches for every contender (the floor's few statements warm at
      // once; the worker's code paths would otherwise pay their compilation in the first round).
      for (const name of names) yield* contenders[name]
      const seconds: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
      for (let round = 0; round < rounds; round++) {
        const order = names.map((_, i) => names[(i + round) % names.length])
        for (const name of order) {
          seconds[name].push(yield* contenders[name])
          process.stderr.write(
            `  jobs ${name}: ${Math.round(jobsOf(name) / seconds[name][seconds[name].length - 1])}/s\n`
          )
        }
      }
      yield* Scope.close(scope, Exit.void)
      const perSecond = (name: string) => seconds[name].map((s) => jobsOf(name) / s)
      const ratio = (name: string, floor: string) =>
        seconds[name].map((s, i) => (jobsOf(name) / s) / (jobsOf(floor) / seconds[floor][i]))
      return {
        jobs: total,
        rounds,
        jobsPerSecond: Object.fromEntries(names.map((name) => [name, spread(perSecond(name))])),
        strata1VsFloor1: spread(ratio("strata1", "floor1")),
        strata4VsFloor4: spread(ratio("strata4", "floor4")),
        persisted1VsFloor1: spread(ratio("persisted1", "floor1")),
        enqueueVsFloor: spread(ratio("enqueue", "enqueueFloor"))
      }
    })
}

const latency: Workload = {
  name: "jobLatency",
  run: ({ backend, quick }) =>
    backend !== "postgres" && backend !== "sqlite" ? undefined : Effect.gen(function*() {
      const jobs = yield* setup(backend)
      // Another service over the same store: its enqueues do not wake the worker (another process).
      const elsewhere = JobQueue.fromStore(jobs.store)
      const count = quick ? 60 : 300
      const measure = (producer: JobQueue.JobQueue["Service"]) =>
        Effect.gen(function*() {
          const name = queueName("lat")
          const queue = JobQueue.make(name, Payload)
          const waits: Array<number> = []
          const scope = yield* Scope.make()
          yield* JobQueue.worker(
            queue,
            (_, job) => Effect.sync(() => waits.push(Date.now() - job.enqueuedAt)),
            { concurrency: 8, pollInterval: "100 millis" }
          ).pipe(Scope.provide(scope), Effect.provideService(JobQueue.JobQueue, jobs))
          for (let n = 0; n < count; n++) {
            yield* JobQueue.enqueue(queue, { n, body: payload }).pipe(
              Effect.provideService(JobQueue.JobQueue, producer)
            )
            yield* Effect.sleep("5 millis")
          }
          while (waits.length < count) yield* Effect.sleep("10 millis")
          yield* Scope.close(scope, Exit.void)
          return { p50: percentile(waits, 0.5), p99: percentile(waits, 0.99), max: Math.max(...waits) }
        })
      // Effect's PersistedQueue, offers in the takers' process (its store nudges them), poll 100 ms.
      const persisted = Effect.gen(function*() {
        const scope = yield* Scope.make()
        const factory = yield* Effect.map(
          Layer.buildWithScope(
            PersistedQueue.layer.pipe(Layer.provide(PersistedQueue.layerStoreSql({ pollInterval: "100 millis" }))),
            scope
          ),
          (context) => Context.get(context, PersistedQueue.PersistedQueueFactory)
        )
        const queue = yield* PersistedQueue.make({ name: queueName("plat"), schema: Payload }).pipe(
          Effect.provideService(PersistedQueue.PersistedQueueFactory, factory)
        )
        const offeredAt = new Map<number, number>()
        const waits: Array<number> = []
        const loops = yield* Effect.forEach(Array.from({ length: 8 }), () =>
          Effect.forkChild(Effect.forever(queue.take((element) =>
            Effect.sync(() =>
              waits.push(Date.now() - (offeredAt.get(element.n) ?? Date.now()))
            )
          ))))
        for (let n = 0; n < count; n++) {
          offeredAt.set(n, Date.now())
          yield* queue.offer({ n, body: payload })
          yield* Effect.sleep("5 millis")
        }
        while (waits.length < count) {
          yield* Effect.sleep("10 millis")
        }
        for (const loop of loops) {
          yield* Fiber.interrupt(loop)
        }
        yield* Scope.close(scope, Exit.void)
        return { p50: percentile(waits, 0.5), p99: percentile(waits, 0.99), max: Math.max(...waits) }
      })
      return {
        jobs: count,
        unit: "ms",
        woken: yield* measure(jobs),
        polled: yield* measure(elsewhere),
        persisted: yield* persisted
      }
    })
}

/** The job-queue workloads. */
export const workloads: ReadonlyArray<Workload> = [throughput, latency]
