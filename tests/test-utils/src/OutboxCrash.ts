// The outbox crash scenario (OutboxCrash.test.ts in packages/sqlite and packages/postgres): a writer
// process (crashWorker.ts, SCENARIO=unit) commits units of work that each append an event and enqueue
// a job, and SIGKILLs itself inside the last one, after both writes and before the commit. Afterwards,
// for every unit: its event is stored if and only if its job is.
import { EventStore, JobQueue } from "@strata/core"
import * as Effect from "effect/Effect"
import { runProcess } from "./CarriedCrash.ts"
import type { Target } from "./GroupProcesses.ts"
import { Work } from "./jobWorkerSchema.ts"

/** What the scenario saw, per unit `n`: whether its event and its job are stored. */
export interface OutboxCrashResult {
  readonly exit: number | string | null
  readonly events: ReadonlyArray<number>
  readonly jobs: ReadonlyArray<number>
  readonly output: string
}

/**
 * Runs the writer until it kills itself inside unit `killAt`. Needs the store's services and
 * `JobQueue` on the same database as `target`, migrated.
 */
export const outboxCrash = (target: Target, killAt: number) =>
  Effect.gen(function*() {
    const id = Math.random().toString(16).slice(2, 10)
    const category = `outbox${id}`
    const queue = JobQueue.make(`q${id}`, Work)
    const { exit, output } = yield* runProcess("crashWorker.ts", {
      SCENARIO: "unit",
      STRATA_BACKEND: target.backend,
      STRATA_TARGET: target.target,
      CATEGORY: category,
      QUEUE: queue.name,
      KILL_AT: String(killAt)
    })
    const store = yield* EventStore.EventStore
    const events: Array<number> = []
    for (let n = 0; n <= killAt; n++) {
      if ((yield* store.streamInfo(`${category}-${n}`)).lastVersion !== undefined) events.push(n)
    }
    const known = yield* JobQueue.queues
    const jobs = known.includes(queue.name)
      ? (yield* JobQueue.list({ queue: queue.name, limit: killAt + 10 })).map((job) =>
        (JSON.parse(job.payload) as { n: number }).n
      ).sort((a, b) => a - b)
      : []
    return { exit, events, jobs, output } satisfies OutboxCrashResult
  })
