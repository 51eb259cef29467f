// The outbox crash scenario (OutboxCrash.test.ts in packages/sqlite and packages/postgres): a writer
// process (outboxWorker.ts) commits units of work that each append an event and enqueue a job, and
// SIGKILLs itself inside the last one, after both writes and before the commit. Afterwards, for every
// unit: its event is stored if and only if its job is.
import { EventStore, JobQueue } from "@strata/core"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import type { Target } from "./GroupProcesses.ts"
import { Work } from "./jobWorkerSchema.ts"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")
const node = Path.join(root, "node_modules", ".bin", "node")
const writerPath = Path.join(import.meta.dirname, "outboxWorker.ts")

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
    let output = ""
    const exit = yield* Effect.promise(() =>
      new Promise<number | string | null>((resolve) => {
        const child = ChildProcess.spawn(node, ["--conditions=@strata/source", writerPath], {
          env: {
            ...process.env,
            STRATA_BACKEND: target.backend,
            STRATA_TARGET: target.target,
            CATEGORY: category,
            QUEUE: queue.name,
            KILL_AT: String(killAt)
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
        child.stdout.on("data", (chunk: Buffer) => output += chunk.toString())
        child.stderr.on("data", (chunk: Buffer) => output += chunk.toString())
        child.on("exit", (code, signal) => resolve(signal ?? code))
      })
    )
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
