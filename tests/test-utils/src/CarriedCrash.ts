// The carried-jobs crash scenario (OutboxCrash.test.ts in packages/sqlite and packages/postgres): a
// writer process (crashWorker.ts, SCENARIO=carried) appends events that carry jobs (JobQueue.append, appendMany and
// put in turn) and SIGKILLs itself in unit `killAt`: between its last write and its commit, or just
// after its commit. Afterwards, per unit: its events (and document) are stored if and only if its
// jobs are.
import { DocumentStore, EventStore, JobQueue } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import type { Target } from "./GroupProcesses.ts"
import { Work } from "./jobWorkerSchema.ts"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")
const node = Path.join(root, "node_modules", ".bin", "node")

/**
 * Runs `script` (a file of this folder) as its own node process with `env` added, until it exits;
 * its exit code or the signal that killed it, and everything it printed.
 */
export const runProcess = (script: string, env: Record<string, string>) =>
  Effect.promise(() =>
    new Promise<{ readonly exit: number | string | null; readonly output: string }>((resolve) => {
      let output = ""
      const child = ChildProcess.spawn(node, ["--conditions=@strata/source", Path.join(import.meta.dirname, script)], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child.stdout.on("data", (chunk: Buffer) => output += chunk.toString())
      child.stderr.on("data", (chunk: Buffer) => output += chunk.toString())
      child.on("exit", (code, signal) => resolve({ exit: signal ?? code, output }))
    })
  )

/** Which carrying call unit `n` made: `n % 3`. */
export const kinds = ["append", "appendMany", "put"] as const

/** What one unit left behind. */
export interface CarriedUnit {
  readonly n: number
  readonly kind: typeof kinds[number]
  /** How many of its streams exist (append and put write one, appendMany two). */
  readonly streams: number
  /** Whether its document exists (put only; false otherwise). */
  readonly document: boolean
  /** How many of its two jobs exist. */
  readonly jobs: number
}

/** What the scenario saw. */
export interface CarriedCrashResult {
  readonly exit: number | string | null
  readonly output: string
  readonly units: ReadonlyArray<CarriedUnit>
}

/**
 * Runs the writer until it kills itself in unit `killAt`, `when` before or after that unit's
 * commit. Needs the store's services and `JobQueue` on the same database as `target`, migrated.
 */
export const carriedCrash = (target: Target, killAt: number, when: "before-commit" | "after-commit") =>
  Effect.gen(function*() {
    const id = Math.random().toString(16).slice(2, 10)
    const category = `carried${id}`
    const queue = JobQueue.make(`q${id}`, Work)
    const { exit, output } = yield* runProcess("crashWorker.ts", {
      SCENARIO: "carried",
      STRATA_BACKEND: target.backend,
      STRATA_TARGET: target.target,
      CATEGORY: category,
      QUEUE: queue.name,
      KILL_AT: String(killAt),
      WHEN: when
    })
    const store = yield* EventStore.EventStore
    const docs = yield* DocumentStore.DocumentStore
    const Orders = DocumentStore.collection(`${category}docs`, Schema.Struct({ n: Schema.Number }))
    const known = yield* JobQueue.queues
    const stored = known.includes(queue.name)
      ? (yield* JobQueue.list({ queue: queue.name })).map((job) => (JSON.parse(job.payload) as { n: number }).n)
      : []
    const units: Array<CarriedUnit> = []
    for (let n = 0; n <= killAt; n++) {
      const kind = kinds[n % 3]
      let streams = 0
      for (const stream of kind === "appendMany" ? [`${category}-${n}`, `${category}-${n}-b`] : [`${category}-${n}`]) {
        if ((yield* store.streamInfo(stream)).lastVersion !== undefined) streams++
      }
      const document = kind === "put" && Option.isSome(yield* docs.get(Orders, `d${n}`))
      units.push({ n, kind, streams, document, jobs: stored.filter((m) => m === n).length })
    }
    return { exit, output, units } satisfies CarriedCrashResult
  })
