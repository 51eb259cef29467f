/**
 * Job queues (`JobQueue`), for every backend that holds one: enqueue and run, key de-duplication
 * while pending, due times and priorities, retries and dead letters (listed, retried, purged),
 * cancel, leases (a dead worker's job is taken again after its lease; a slow handler's lease is
 * renewed, so it is never run twice at once), competing workers (each job once), a payload that no
 * longer decodes, typed errors for bad input, and the outbox: a job enqueued in a unit of work
 * commits and rolls back with its events, or is refused with `Unsupported` where the queue's store
 * cannot share the unit; jobs carried by an append (`JobQueue.append`, `appendMany`, `put`) exist if and
 * only if its events committed, once even when the append is replayed, or the append is refused.
 *
 * Tests run on the real clock with short leases and poll intervals.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import {
  Consumer,
  DocumentStore,
  Event,
  EventStore,
  ExpectedVersion,
  JobQueue,
  type JobStore,
  UnitOfWork
} from "@strata/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { withBuilt } from "./internal/built.ts"
import { hex } from "./internal/fixtures.ts"
import type { Services } from "./SuiteOptions.ts"

/**
 * How a backend's job queue is checked.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobQueueSuiteOptions {
  /**
   * Whether jobs enqueued in `UnitOfWork.transaction` commit with it (the queue shares the event
   * store's transactions). Otherwise the suite checks that such an enqueue is refused with
   * `Unsupported` and writes nothing. Default false.
   */
  readonly outbox?: boolean | undefined
  /**
   * Whether jobs carried by an append (`JobQueue.append`, `appendMany`, `put`) commit atomically
   * with its events. Otherwise the suite checks that such an append is refused with `Unsupported`
   * and writes neither events nor jobs. Default: `outbox`.
   */
  readonly carried?: boolean | undefined
  /** How long a layer may take to build, and a test to run. Default 60 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** The workers' poll interval. Default 50 ms. */
  readonly pollInterval?: Duration.Input | undefined
}

const Payload = Schema.Struct({ n: Schema.Number, label: Schema.String })
const queueOf = () => JobQueue.make(`q-${hex()}`, Payload)

const failsWith = <A, E>(effect: Effect.Effect<A, E, any>, tag: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    assert.isTrue(Exit.isFailure(exit), `expected ${tag}, got success`)
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    assert.strictEqual((error as { error?: { _tag?: string } } | undefined)?.error?._tag, tag, String(exit))
  })

// Polls `check` until it holds (or fails the test after `millis`).
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what: string, millis = 10_000) =>
  Effect.gen(function*() {
    const until = Date.now() + millis
    while (!(yield* check)) {
      if (Date.now() > until) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

const stateOf = (id: string) => Effect.map(JobQueue.get(id), (job) => job.state)

// Runs `body` with a scope of its own that is closed afterwards (stopping the workers it started).
const scoped = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    return yield* Effect.ensuring(Scope.provide(body, scope), Scope.close(scope, Exit.void))
  })

/**
 * Registers the job queue topic for a layer that provides a store's services and `JobQueue`.
 *
 * @category suites
 * @since 0.1.0
 */
export const jobQueueSuite = (
  name: string,
  storeLayer: Layer.Layer<Services | JobQueue.JobQueue, unknown>,
  options: JobQueueSuiteOptions = {}
): void => {
  const timeout = options.timeout ?? "60 seconds"
  const poll = options.pollInterval ?? "50 millis"
  const fast = { pollInterval: poll, lease: "1 second", retry: Schedule.spaced("20 millis") } as const
  withBuilt(`Strata job queue (${name})`, storeLayer, timeout, (it) => {
    describe("enqueue and run", () => {
      it.effect("a job runs once with its data and attempt 1, then is succeeded", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const seen: Array<[typeof Payload.Type, JobQueue.JobInfo]> = []
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "one" })
          const pending = yield* JobQueue.get(id)
          assert.strictEqual(pending.state, "pending")
          assert.strictEqual(pending.queue, queue.name)
          assert.deepStrictEqual(JSON.parse(pending.payload), { n: 1, label: "one" })
          yield* JobQueue.worker(queue, (data, job) => Effect.sync(() => seen.push([data, job])), fast)
          yield* eventually(Effect.map(stateOf(id), (s) => s === "succeeded"), "the job succeeded")
          assert.strictEqual(seen.length, 1)
          assert.deepStrictEqual(seen[0][0], { n: 1, label: "one" })
          assert.strictEqual(seen[0][1].id, id)
          assert.strictEqual(seen[0][1].attempt, 1)
          const done = yield* JobQueue.get(id)
          assert.strictEqual(done.attempts, 1)
          assert.strictEqual(done.owner, undefined)
        })))

      it.effect("a key de-duplicates while its job is pending or running, not after", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const first = yield* JobQueue.enqueue(queue, { n: 1, label: "a" }, { key: "k-1" })
          const again = yield* JobQueue.enqueue(queue, { n: 2, label: "b" }, { key: "k-1" })
          const other = yield* JobQueue.enqueue(queue, { n: 3, label: "c" }, { key: "k-2" })
          assert.strictEqual(again, first)
          assert.notStrictEqual(other, first)
          assert.strictEqual((yield* JobQueue.list({ queue: queue.name })).length, 2)
          yield* JobQueue.worker(queue, () => Effect.void, fast)
          yield* eventually(Effect.map(stateOf(first), (s) => s === "succeeded"), "the keyed job succeeded")
          const later = yield* JobQueue.enqueue(queue, { n: 4, label: "d" }, { key: "k-1" })
          assert.notStrictEqual(later, first)
        })))

      it.effect("concurrent enqueues each write their job once; those sharing a key get one job and its id", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          // Enqueued at once (a store may write them together): 12 unkeyed, 3 keys held by 4 each.
          const ids = yield* Effect.forEach(
            Array.from({ length: 24 }, (_, n) => n),
            (n) => JobQueue.enqueue(queue, { n, label: `c-${n}` }, n < 12 ? undefined : { key: `key-${n % 3}` }),
            { concurrency: "unbounded" }
          )
          const unkeyed = ids.slice(0, 12)
          assert.strictEqual(new Set(unkeyed).size, 12)
          for (let k = 0; k < 3; k++) {
            const holders = new Set(ids.filter((_, n) => n >= 12 && n % 3 === k))
            assert.strictEqual(holders.size, 1, `one job for key-${k}`)
          }
          const listed = yield* JobQueue.list({ queue: queue.name })
          assert.strictEqual(listed.length, 15)
          assert.deepStrictEqual(new Set(listed.map((job) => job.id)), new Set(ids))
          for (const id of unkeyed) {
            const job = yield* JobQueue.get(id)
            assert.strictEqual(job.state, "pending")
            assert.strictEqual(JSON.parse(job.payload).n, ids.indexOf(id))
          }
        })))

      it.effect("a delayed job is not taken before it is due, and is soon after", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          let startedAt = 0
          const enqueuedAt = Date.now()
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "later" }, { delay: "600 millis" })
          const runAt = (yield* JobQueue.get(id)).runAt
          assert.isAtLeast(runAt, enqueuedAt + 600)
          yield* JobQueue.worker(queue, () => Effect.sync(() => startedAt = Date.now()), fast)
          yield* Effect.sleep("300 millis")
          assert.strictEqual(yield* stateOf(id), "pending")
          yield* eventually(Effect.map(stateOf(id), (s) => s === "succeeded"), "the delayed job ran")
          assert.isAtLeast(startedAt, runAt)
          // Within the poll interval, plus scheduling slack on a busy machine.
          assert.isBelow(startedAt - runAt, 2_000)
        })))

      it.effect("runAt in the past is due at once; due jobs run by priority, then by due time", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const order: Array<string> = []
          const now = Date.now()
          yield* JobQueue.enqueue(queue, { n: 1, label: "low" }, { priority: -1, runAt: now - 10 })
          yield* JobQueue.enqueue(queue, { n: 2, label: "normal-late" }, { runAt: now - 5 })
          yield* JobQueue.enqueue(queue, { n: 3, label: "normal-early" }, { runAt: new Date(now - 20) })
          yield* JobQueue.enqueue(queue, { n: 4, label: "high" }, { priority: 5 })
          yield* JobQueue.worker(queue, (data) => Effect.sync(() => order.push(data.label)), {
            ...fast,
            concurrency: 1
          })
          yield* eventually(Effect.sync(() => order.length === 4), "all four ran")
          assert.deepStrictEqual(order, ["high", "normal-early", "normal-late", "low"])
        })))
    })

    describe("failures", () => {
      it.effect("a failing job is retried by the schedule, then dead with its last error; dead letters are listed, retried and purged", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          let runs = 0
          let healthy = false
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "flaky" })
          yield* JobQueue.worker(
            queue,
            (_, job) =>
              Effect.suspend(() => {
                runs++
                return healthy ? Effect.void : Effect.fail(`boom on attempt ${job.attempt}`)
              }),
            { ...fast, maxAttempts: 3 }
          )
          yield* eventually(Effect.map(stateOf(id), (s) => s === "dead"), "the job is dead")
          assert.strictEqual(runs, 3)
          const dead = yield* JobQueue.get(id)
          assert.strictEqual(dead.attempts, 3)
          assert.include(dead.lastError ?? "", "boom on attempt 3")
          const letters = yield* JobQueue.deadLetters(queue.name)
          assert.deepStrictEqual(letters.map((job) => job.id), [id])
          healthy = true
          yield* JobQueue.retry(id)
          yield* eventually(Effect.map(stateOf(id), (s) => s === "succeeded"), "the retried job succeeded")
          assert.strictEqual(runs, 4)
          assert.strictEqual((yield* JobQueue.get(id)).attempts, 1)
          yield* failsWith(JobQueue.retry(id), "JobStateConflict")
          assert.strictEqual(yield* JobQueue.purge({ queue: queue.name, states: ["dead"] }), 0)
          assert.strictEqual(yield* JobQueue.purge({ queue: queue.name }), 1)
          yield* failsWith(JobQueue.get(id), "JobNotFound")
        })))

      it.effect("a defect counts as a failed run; the delay between runs follows the schedule", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const starts: Array<number> = []
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "defect" })
          yield* JobQueue.worker(queue, () =>
            Effect.suspend(() => {
              starts.push(Date.now())
              return Effect.die(new Error("handler bug"))
            }), { ...fast, maxAttempts: 2, retry: Schedule.spaced("400 millis") })
          yield* eventually(Effect.map(stateOf(id), (s) => s === "dead"), "the job is dead")
          assert.strictEqual(starts.length, 2)
          assert.isAtLeast(starts[1] - starts[0], 400)
          assert.include((yield* JobQueue.get(id)).lastError ?? "", "handler bug")
        })))

      it.effect("retryDead retries every dead letter of a queue", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          let healthy = false
          const ids = yield* Effect.forEach([1, 2, 3], (n) => JobQueue.enqueue(queue, { n, label: "x" }))
          yield* JobQueue.worker(queue, () => healthy ? Effect.void : Effect.fail("down"), {
            ...fast,
            maxAttempts: 1,
            concurrency: 3
          })
          yield* eventually(
            Effect.map(JobQueue.deadLetters(queue.name), (dead) => dead.length === 3),
            "three dead letters"
          )
          healthy = true
          assert.strictEqual(yield* JobQueue.retryDead(queue.name), 3)
          yield* eventually(
            Effect.map(Effect.forEach(ids, stateOf), (states) => states.every((s) => s === "succeeded")),
            "all three succeeded"
          )
        })))

      it.effect("a payload that no longer decodes is dead at once, without retries", () =>
        scoped(Effect.gen(function*() {
          const name = `q-${hex()}`
          const id = yield* JobQueue.enqueue(JobQueue.make(name, Schema.String), "not a struct")
          let runs = 0
          yield* JobQueue.worker(JobQueue.make(name, Payload), () => Effect.sync(() => runs++), {
            ...fast,
            maxAttempts: 5
          })
          yield* eventually(Effect.map(stateOf(id), (s) => s === "dead"), "the job is dead")
          const job = yield* JobQueue.get(id)
          assert.strictEqual(runs, 0)
          assert.strictEqual(job.attempts, 1)
          assert.include(job.lastError ?? "", "does not match its schema")
        })))
    })

    describe("leases", () => {
      it.effect("a job taken by a worker that died is taken again once its lease expires, as attempt 2", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const { store } = yield* JobQueue.JobQueue
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "orphan" })
          // A worker takes it and dies: nothing is released.
          const now = Date.now()
          const taken = yield* store.take({
            queue: queue.name,
            owner: "dead-worker",
            now,
            leaseExpiresAt: now + 700,
            limit: 10
          })
          assert.deepStrictEqual(taken.map((job) => job.id), [id])
          const attempts: Array<number> = []
          yield* JobQueue.worker(queue, (_, job) => Effect.sync(() => attempts.push(job.attempt)), fast)
          yield* Effect.sleep("350 millis")
          assert.deepStrictEqual(attempts, [], "taken again before its lease expired")
          assert.strictEqual(yield* stateOf(id), "running")
          yield* eventually(Effect.map(stateOf(id), (s) => s === "succeeded"), "the orphan ran")
          assert.deepStrictEqual(attempts, [2])
          // The dead worker's take no longer counts.
          assert.isFalse(yield* store.complete({ id, owner: "dead-worker", attempt: 1 }, Date.now()))
          assert.isFalse(
            yield* store.fail({ id, owner: "dead-worker", attempt: 1 }, { now: Date.now(), error: "x", retryAt: 0 })
          )
          assert.strictEqual(yield* stateOf(id), "succeeded")
        })))

      it.effect("a job whose last attempt's worker died is dead when taken again, without running", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const { store } = yield* JobQueue.JobQueue
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "poison" })
          const now = Date.now()
          yield* store.take({ queue: queue.name, owner: "dead-worker", now, leaseExpiresAt: now + 200, limit: 10 })
          let runs = 0
          yield* JobQueue.worker(queue, () => Effect.sync(() => runs++), { ...fast, maxAttempts: 1 })
          yield* eventually(Effect.map(stateOf(id), (s) => s === "dead"), "the job is dead")
          const job = yield* JobQueue.get(id)
          assert.strictEqual(runs, 0)
          assert.strictEqual(job.attempts, 2)
          assert.include(job.lastError ?? "", "its worker died")
        })))

      it.effect("a take answers due jobs in take order; a job released unstarted keeps its due time and uncounts its attempt", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const { store } = yield* JobQueue.JobQueue
          const now = Date.now()
          const late = yield* JobQueue.enqueue(queue, { n: 1, label: "late" }, { runAt: now - 5 })
          const low = yield* JobQueue.enqueue(queue, { n: 2, label: "low" }, { priority: -1, runAt: now - 30 })
          const early = yield* JobQueue.enqueue(queue, { n: 3, label: "early" }, { runAt: now - 20 })
          const high = yield* JobQueue.enqueue(queue, { n: 4, label: "high" }, { priority: 3 })
          const taken = yield* store.take({
            queue: queue.name,
            owner: "w",
            now: Date.now(),
            leaseExpiresAt: Date.now() + 10_000,
            limit: 10
          })
          assert.deepStrictEqual(taken.map((job) => job.id), [high, early, late, low])
          const [first, second] = taken
          assert.isTrue(yield* store.release({ id: first.id, owner: "w", attempt: 1 }, Date.now(), { unstarted: true }))
          assert.isTrue(yield* store.release({ id: second.id, owner: "w", attempt: 1 }, now + 50))
          const given = yield* JobQueue.get(first.id)
          assert.strictEqual(given.state, "pending")
          assert.strictEqual(given.attempts, 0)
          assert.strictEqual(given.runAt, first.runAt)
          const released = yield* JobQueue.get(second.id)
          assert.strictEqual(released.attempts, 1)
          assert.strictEqual(released.runAt, now + 50)
          // Fenced like every other outcome: a second release of the same take changes nothing.
          assert.isFalse(
            yield* store.release({ id: first.id, owner: "w", attempt: 1 }, Date.now(), { unstarted: true })
          )
          assert.strictEqual((yield* JobQueue.get(first.id)).attempts, 0)
        })))

      it.effect("a worker taking ahead starts jobs in take order, each once; stopping gives the unstarted back uncounted", () =>
        Effect.gen(function*() {
          const queue = queueOf()
          const started: Array<number> = []
          const ids: Array<string> = []
          for (let n = 0; n < 12; n++) {
            ids.push(yield* JobQueue.enqueue(queue, { n, label: "x" }, { priority: n % 3 }))
          }
          const expected = Array.from({ length: 12 }, (_, n) => n).sort((a, b) => (b % 3) - (a % 3) || a - b)
          const scope = yield* Scope.make()
          // Concurrency 1, 4 ahead: the first take is one job (no run has ended yet), the next five.
          // The third job blocks, so three wait taken ahead when the worker stops.
          yield* JobQueue.worker(queue, (data) =>
            Effect.suspend(() => {
              started.push(data.n)
              return started.length === 3 ? Effect.never : Effect.void
            }), { ...fast, concurrency: 1, prefetch: 4 }).pipe(Scope.provide(scope))
          yield* eventually(Effect.sync(() => started.length === 3), "three jobs started")
          const [one, two, three] = expected.map((n) => ids[n])
          yield* eventually(
            Effect.map(Effect.all([stateOf(one), stateOf(two)]), (states) => states.every((s) => s === "succeeded")),
            "the first two succeeded"
          )
          // The blocked job and up to three taken ahead (fewer if the first runs were slow: the worker
          // takes ahead what its slot starts within ~50 ms at their pace).
          const running = yield* JobQueue.list({ queue: queue.name, states: ["running"] })
          assert.isAtLeast(running.length, 1)
          assert.isAtMost(running.length, 4)
          yield* Scope.close(scope, Exit.void)
          assert.deepStrictEqual(started, expected.slice(0, 3))
          const jobs = yield* JobQueue.list({ queue: queue.name })
          assert.strictEqual(jobs.filter((job) => job.state === "succeeded").length, 2)
          assert.strictEqual(jobs.filter((job) => job.state === "pending").length, 10)
          // The interrupted run counted; the three taken ahead and never started did not.
          assert.strictEqual((yield* JobQueue.get(three)).attempts, 1)
          for (const job of jobs) {
            if (job.state === "pending" && job.id !== three) assert.strictEqual(job.attempts, 0, job.id)
          }
          // Another worker runs the rest in take order: the interrupted job was put back due now, after
          // the job of its priority that was taken ahead.
          const rest: Array<number> = []
          yield* scoped(Effect.gen(function*() {
            yield* JobQueue.worker(queue, (data) => Effect.sync(() => rest.push(data.n)), {
              ...fast,
              concurrency: 1,
              prefetch: 4
            })
            yield* eventually(Effect.sync(() => rest.length === 10), "the rest ran")
          }))
          assert.deepStrictEqual(rest, [expected[3], expected[2], ...expected.slice(4)])
        }))

      it.effect("a worker that stops writes the completions it holds: no job that succeeded runs again", () =>
        Effect.gen(function*() {
          const queue = queueOf()
          for (let n = 0; n < 40; n++) yield* JobQueue.enqueue(queue, { n, label: "x" })
          let started = 0
          const scope = yield* Scope.make()
          // The 20th job and those after it block: 19 succeed, their completions perhaps still waiting
          // for the jobs taken ahead when the worker stops.
          yield* JobQueue.worker(queue, () => Effect.suspend(() => ++started >= 20 ? Effect.never : Effect.void), {
            ...fast,
            concurrency: 4,
            prefetch: 12
          }).pipe(Scope.provide(scope))
          yield* eventually(Effect.sync(() => started >= 23), "four jobs blocked")
          yield* Scope.close(scope, Exit.void)
          const jobs = yield* JobQueue.list({ queue: queue.name })
          assert.strictEqual(jobs.filter((job) => job.state === "succeeded").length, 19)
          const pending = jobs.filter((job) => job.state === "pending")
          assert.strictEqual(pending.length, 21)
          // The four interrupted runs counted; nothing else did.
          assert.strictEqual(pending.filter((job) => job.attempts === 1).length, 4)
          assert.strictEqual(pending.filter((job) => job.attempts === 0).length, 17)
        }))

      it.effect("a handler that runs longer than its lease keeps it (renewed) and is never run twice at once", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          let running = 0
          let overlaps = 0
          let runs = 0
          const handler = () =>
            Effect.gen(function*() {
              running++
              runs++
              if (running > 1) overlaps++
              yield* Effect.sleep("1500 millis")
              running--
            })
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "slow" })
          const options = { ...fast, lease: "400 millis" } as const
          yield* JobQueue.worker(queue, handler, options)
          yield* JobQueue.worker(queue, handler, options)
          yield* eventually(Effect.map(stateOf(id), (s) => s === "succeeded"), "the slow job succeeded")
          assert.strictEqual(runs, 1)
          assert.strictEqual(overlaps, 0)
          assert.strictEqual((yield* JobQueue.get(id)).attempts, 1)
        })))

      it.effect("competing workers run every job exactly once", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          const runs = new Map<number, number>()
          const ids = yield* Effect.forEach(
            Array.from({ length: 40 }, (_, n) => n),
            (n) => JobQueue.enqueue(queue, { n, label: "many" })
          )
          const handler = (data: typeof Payload.Type) =>
            Effect.andThen(Effect.sleep("5 millis"), Effect.sync(() => runs.set(data.n, (runs.get(data.n) ?? 0) + 1)))
          yield* JobQueue.worker(queue, handler, { ...fast, concurrency: 4 })
          yield* JobQueue.worker(queue, handler, { ...fast, concurrency: 4 })
          yield* JobQueue.worker(queue, handler, { ...fast, concurrency: 2 })
          yield* eventually(
            Effect.map(JobQueue.list({ queue: queue.name, states: ["succeeded"] }), (done) => done.length === 40),
            "all 40 succeeded"
          )
          assert.strictEqual(runs.size, 40)
          assert.isTrue([...runs.values()].every((n) => n === 1), "a job ran twice")
          const stats = yield* JobQueue.stats(queue.name)
          assert.deepStrictEqual(
            { pending: stats.pending, running: stats.running, dead: stats.dead },
            { pending: 0, running: 0, dead: 0 }
          )
          assert.strictEqual(ids.length, 40)
        })))

      it.effect("closing a worker's scope interrupts its handler and puts the job back as due", () =>
        Effect.gen(function*() {
          const queue = queueOf()
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "interrupted" })
          const scope = yield* Scope.make()
          let started = false
          yield* Scope.provide(
            JobQueue.worker(queue, () => Effect.andThen(Effect.sync(() => started = true), Effect.never), fast),
            scope
          )
          yield* eventually(Effect.sync(() => started), "the handler started")
          yield* Scope.close(scope, Exit.void)
          const job = yield* JobQueue.get(id)
          assert.strictEqual(job.state, "pending")
          assert.strictEqual(job.owner, undefined)
          yield* scoped(Effect.gen(function*() {
            yield* JobQueue.worker(queue, () => Effect.void, fast)
            yield* eventually(Effect.map(stateOf(id), (s) => s === "succeeded"), "another worker ran it")
          }))
        }))
    })

    describe("administration and bad input", () => {
      it.effect("cancel: a pending job never runs; cancelling it again, or a missing job, fails typed", () =>
        scoped(Effect.gen(function*() {
          const queue = queueOf()
          let runs = 0
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "cancelled" }, { delay: "300 millis" })
          const kept = yield* JobQueue.enqueue(queue, { n: 2, label: "kept" }, { delay: "300 millis" })
          yield* JobQueue.cancel(id)
          assert.strictEqual(yield* stateOf(id), "cancelled")
          yield* failsWith(JobQueue.cancel(id), "JobStateConflict")
          yield* failsWith(JobQueue.cancel(`missing-${hex()}`), "JobNotFound")
          yield* JobQueue.worker(queue, () => Effect.sync(() => runs++), fast)
          yield* eventually(Effect.map(stateOf(kept), (s) => s === "succeeded"), "the other job ran")
          assert.strictEqual(runs, 1)
          assert.strictEqual(yield* stateOf(id), "cancelled")
          yield* failsWith(JobQueue.cancel(kept), "JobStateConflict")
          // A cancelled job can be retried.
          yield* JobQueue.retry(id)
          yield* eventually(Effect.map(stateOf(id), (s) => s === "succeeded"), "the retried job ran")
        })))

      it.effect("bad input fails typed and writes nothing", () =>
        Effect.gen(function*() {
          const queue = queueOf()
          const bad = queue as unknown as JobQueue.Queue<unknown>
          yield* failsWith(JobQueue.enqueue(bad, { n: "not a number", label: 1 }), "JobPayloadError")
          yield* failsWith(JobQueue.enqueue(queue, { n: 1, label: "x" }, { delay: -5 }), "InvalidArgument")
          yield* failsWith(JobQueue.enqueue(queue, { n: 1, label: "x" }, { key: "k".repeat(201) }), "InvalidArgument")
          yield* failsWith(JobQueue.enqueue(queue, { n: 1, label: "x" }, { key: "" }), "InvalidArgument")
          yield* failsWith(JobQueue.enqueue(queue, { n: 1, label: "x" }, { priority: 1.5 }), "InvalidArgument")
          yield* failsWith(
            JobQueue.enqueue(queue, { n: 1, label: "x" }, { delay: 10, runAt: Date.now() }),
            "InvalidArgument"
          )
          yield* failsWith(JobQueue.enqueue(JobQueue.make("", Payload), { n: 1, label: "x" }), "InvalidArgument")
          yield* failsWith(JobQueue.list({ queue: queue.name }), "UnknownQueue")
          yield* failsWith(JobQueue.deadLetters(`nope-${hex()}`), "UnknownQueue")
          yield* failsWith(JobQueue.purge({ queue: `nope-${hex()}` }), "UnknownQueue")
          yield* failsWith(JobQueue.stats(`nope-${hex()}`), "UnknownQueue")
          yield* failsWith(JobQueue.list({ states: ["lost" as JobStore.JobState] }), "InvalidArgument")
          yield* failsWith(
            JobQueue.worker(queue, () => Effect.void, { concurrency: 0 }).pipe(Effect.scoped),
            "InvalidArgument"
          )
          yield* failsWith(
            JobQueue.worker(queue, () => Effect.void, { prefetch: -1 }).pipe(Effect.scoped),
            "InvalidArgument"
          )
          // The key at its limit is fine.
          const id = yield* JobQueue.enqueue(queue, { n: 1, label: "x" }, { key: "k".repeat(200) })
          assert.deepStrictEqual((yield* JobQueue.list({ queue: queue.name })).map((job) => job.id), [id])
          assert.include(yield* JobQueue.queues, queue.name)
        }))
    })

    describe("outbox", () => {
      if (options.outbox === true) {
        it.effect("a job enqueued in a unit of work exists if and only if the unit's events committed", () =>
          Effect.gen(function*() {
            const queue = queueOf()
            const store = yield* EventStore.EventStore
            const stream = `jobs${hex()}-order`
            const unit = (fail: boolean) =>
              UnitOfWork.transaction(Effect.gen(function*() {
                yield* store.append(stream, [Event.make("Placed", { fail })])
                const id = yield* JobQueue.enqueue(queue, { n: 1, label: fail ? "rolled back" : "committed" })
                if (fail) return yield* Effect.fail("abort")
                return id
              }))
            yield* Effect.exit(unit(true))
            assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, undefined)
            assert.notInclude(yield* JobQueue.queues, queue.name, "the rolled-back job was written")
            const id = yield* unit(false)
            assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, 0n)
            const job = yield* JobQueue.get(id)
            assert.strictEqual(job.state, "pending")
            assert.deepStrictEqual(JSON.parse(job.payload), { n: 1, label: "committed" })
          }))

        it.effect("a consumer reacting to events enqueues each event's job exactly once (jobs commit with its checkpoint)", () =>
          Effect.gen(function*() {
            const queue = queueOf()
            const store = yield* EventStore.EventStore
            const category = `react${hex()}`
            const type = `T${hex()}.Placed`
            for (let n = 0; n < 6; n++) yield* store.append(`${category}-${n}`, [Event.make(type, { n })])
            const toJob = (event: { readonly data: unknown }) => ({ n: (event.data as { n: number }).n, label: "r" })
            const react = JobQueue.reaction(queue, toJob)
            const consumer = `react-${hex()}`
            // First run: the handler fails after enqueueing the job of event 3, inside its batch.
            const failed = yield* Effect.exit(Consumer.run(consumer, {
              filter: { types: [type] },
              checkpointEvery: 1,
              handler: (event) =>
                Effect.andThen(
                  react(event),
                  (event.data as { n: number }).n === 3 ? Effect.fail("crash after enqueue") : Effect.void
                )
            }))
            assert.isTrue(Exit.isFailure(failed))
            const jobsOf = Effect.map(
              JobQueue.list({ queue: queue.name, limit: 100 }),
              (jobs) => jobs.map((job) => (JSON.parse(job.payload) as { n: number }).n).sort()
            )
            assert.deepStrictEqual(yield* jobsOf, [0, 1, 2], "the failed batch's job was rolled back")
            // Second run from the checkpoint: every other event once.
            const fiber = yield* Effect.forkChild(Consumer.run(consumer, {
              filter: { types: [type] },
              checkpointEvery: 1,
              handler: react
            }))
            yield* eventually(Effect.map(jobsOf, (ns) => ns.length >= 6), "six jobs")
            yield* Effect.sleep("200 millis")
            yield* Fiber.interrupt(fiber)
            assert.deepStrictEqual(yield* jobsOf, [0, 1, 2, 3, 4, 5])
          }))
      } else {
        it.effect("a job enqueued in a unit of work is refused with Unsupported (the queue cannot share it)", () =>
          Effect.gen(function*() {
            const queue = queueOf()
            const unit = yield* UnitOfWork.UnitOfWork
            const enqueued = UnitOfWork.transaction(JobQueue.enqueue(queue, { n: 1, label: "x" }))
            const exit = yield* Effect.exit(enqueued)
            assert.isTrue(Exit.isFailure(exit))
            yield* failsWith(enqueued, "Unsupported")
            if (unit.interactive) assert.notInclude(yield* JobQueue.queues, queue.name, "the refused job was written")
          }))
      }
    })
    describe("jobs carried by an append", () => {
      const payloadsOf = (queue: JobQueue.Queue<typeof Payload.Type, typeof Payload.Encoded>) =>
        Effect.map(
          Effect.catchTag(JobQueue.list({ queue: queue.name, limit: 100 }), "UnknownQueue", () => Effect.succeed([])),
          (jobs) => jobs.map((job) => JSON.parse(job.payload) as typeof Payload.Type).sort((a, b) => a.n - b.n)
        )
      if (options.carried ?? options.outbox === true) {
        it.effect("an append's jobs commit with its events; an append that fails leaves no job", () =>
          Effect.gen(function*() {
            const queue = queueOf()
            const store = yield* EventStore.EventStore
            const stream = `carry${hex()}-1`
            const result = yield* JobQueue.append(stream, [Event.make("Placed", { n: 1 })], {
              expected: ExpectedVersion.noStream,
              jobs: [
                JobQueue.job(queue, { n: 1, label: "a" }),
                JobQueue.job(queue, { n: 2, label: "b" }, { delay: "1 hour" })
              ]
            })
            assert.strictEqual(result.nextExpectedVersion, 0n)
            assert.deepStrictEqual(yield* payloadsOf(queue), [{ n: 1, label: "a" }, { n: 2, label: "b" }])
            // The same expected version again: the append fails, and its job is not written.
            yield* failsWith(
              JobQueue.append(stream, [Event.make("Placed", { n: 3 })], {
                expected: ExpectedVersion.noStream,
                jobs: [JobQueue.job(queue, { n: 3, label: "c" })]
              }),
              "WrongExpectedVersion"
            )
            // A job whose data does not encode: the append is rolled back.
            const bad = queue as unknown as JobQueue.Queue<unknown>
            yield* failsWith(
              JobQueue.append(stream, [Event.make("Placed", { n: 4 })], { jobs: [JobQueue.job(bad, { n: "x" })] }),
              "JobPayloadError"
            )
            assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, 0n)
            assert.deepStrictEqual((yield* payloadsOf(queue)).map((p) => p.n), [1, 2])
            yield* failsWith(
              JobQueue.append(stream, [], { jobs: [JobQueue.job(queue, { n: 5, label: "e" })] }),
              "InvalidArgument"
            )
          }))

        it.effect("an append repeated with the same event ids (a lost reply) enqueues its jobs once", () =>
          Effect.gen(function*() {
            const queue = queueOf()
            const stream = `carry${hex()}-2`
            const events = [Event.make("Placed", { n: 1 })]
            const jobs = [JobQueue.job(queue, { n: 1, label: "once" }), JobQueue.job(queue, { n: 2, label: "once" })]
            const first = yield* JobQueue.append(stream, events, { expected: ExpectedVersion.noStream, jobs })
            const again = yield* JobQueue.append(stream, events, { expected: ExpectedVersion.noStream, jobs })
            assert.deepStrictEqual(again, first)
            const stored = yield* JobQueue.list({ queue: queue.name })
            assert.strictEqual(stored.length, 2)
            assert.deepStrictEqual(
              stored.map((job) => job.id).sort(),
              [0, 1].map((i) => `${events[0].id!.toLowerCase()}.job-${i}`)
            )
          }))

        it.effect("appendMany and a document put carry jobs atomically", () =>
          Effect.gen(function*() {
            const queue = queueOf()
            const store = yield* EventStore.EventStore
            const a = `carry${hex()}-a`
            const b = `carry${hex()}-b`
            yield* JobQueue.appendMany([
              { stream: a, events: [Event.make("Moved", { n: 1 })], expected: ExpectedVersion.noStream },
              { stream: b, events: [Event.make("Moved", { n: 1 })], expected: ExpectedVersion.noStream }
            ], { jobs: [JobQueue.job(queue, { n: 1, label: "many" })] })
            // One request's expected version fails: neither stream's events nor the job are written.
            yield* failsWith(
              JobQueue.appendMany([
                { stream: a, events: [Event.make("Moved", { n: 2 })], expected: ExpectedVersion.exact(0n) },
                { stream: b, events: [Event.make("Moved", { n: 2 })], expected: ExpectedVersion.noStream }
              ], { jobs: [JobQueue.job(queue, { n: 2, label: "many" })] }),
              "WrongExpectedVersion"
            )
            assert.strictEqual((yield* store.streamInfo(a)).lastVersion, 0n)
            const Orders = DocumentStore.collection(`carry${hex()}`, Schema.Struct({ total: Schema.Number }))
            const order = `order${hex()}`
            yield* JobQueue.put(Orders, "o-1", { total: 5 }, {
              expected: "missing",
              events: [{ stream: order, events: [Event.make("Placed", { total: 5 })] }],
              jobs: [JobQueue.job(queue, { n: 3, label: "put" })]
            })
            yield* failsWith(
              JobQueue.put(Orders, "o-1", { total: 6 }, {
                expected: "missing",
                events: [{ stream: order, events: [Event.make("Placed", { total: 6 })] }],
                jobs: [JobQueue.job(queue, { n: 4, label: "put" })]
              }),
              "DocumentConflict"
            )
            assert.strictEqual((yield* store.streamInfo(order)).lastVersion, 0n)
            assert.deepStrictEqual((yield* payloadsOf(queue)).map((p) => p.n), [1, 3])
          }))

        it.effect("a job carried by an append inside a unit that rolls back never runs, even while the unit is open", () =>
          scoped(Effect.gen(function*() {
            const queue = queueOf()
            const store = yield* EventStore.EventStore
            const stream = `carry${hex()}-3`
            let runs = 0
            yield* JobQueue.worker(queue, () => Effect.sync(() => runs++), fast)
            const unit = yield* UnitOfWork.UnitOfWork
            if (unit.interactive) {
              yield* Effect.exit(UnitOfWork.transaction(Effect.gen(function*() {
                yield* JobQueue.append(stream, [Event.make("Placed", {})], {
                  jobs: [JobQueue.job(queue, { n: 1, label: "x" })]
                })
                yield* Effect.sleep("300 millis")
                return yield* Effect.fail("abort")
              })))
              yield* Effect.sleep("300 millis")
              assert.strictEqual(runs, 0)
              assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, undefined)
              assert.deepStrictEqual(yield* payloadsOf(queue), [])
            }
            yield* JobQueue.append(stream, [Event.make("Placed", {})], {
              jobs: [JobQueue.job(queue, { n: 2, label: "y" })]
            })
            yield* eventually(Effect.sync(() => runs === 1), "the committed job ran")
          })))
      } else {
        it.effect("an append carrying jobs is refused with Unsupported and writes neither events nor jobs", () =>
          Effect.gen(function*() {
            const queue = queueOf()
            const store = yield* EventStore.EventStore
            const stream = `carry${hex()}-4`
            yield* failsWith(
              JobQueue.append(stream, [Event.make("Placed", {})], {
                jobs: [JobQueue.job(queue, { n: 1, label: "x" })]
              }),
              "Unsupported"
            )
            yield* failsWith(
              JobQueue.appendMany([{ stream, events: [Event.make("Placed", {})] }], {
                jobs: [JobQueue.job(queue, { n: 1, label: "x" })]
              }),
              "Unsupported"
            )
            assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, undefined)
            assert.notInclude(yield* JobQueue.queues, queue.name, "the refused job was written")
          }))
      }
    })
  })
}
