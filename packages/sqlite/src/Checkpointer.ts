/**
 * WAL checkpoints off the writing thread. In WAL mode SQLite copies the log back into the database
 * file every ~1,000 pages, inside whichever commit crosses that mark: on the build machine one
 * one-event append in ~130 paid ~1 ms for it, which was the whole p99, and ~30% of the throughput.
 *
 * The checkpointer is a worker thread with its own connection that runs `wal_checkpoint(PASSIVE)`
 * every few milliseconds: a passive checkpoint never waits for, nor blocks, readers or the writer.
 * The writer keeps SQLite's automatic checkpoint at a higher mark as a backstop (a busy writer can
 * stay ahead of the worker, and the log only starts over once a checkpoint has caught up); when it
 * fires, the worker has usually copied all but the last few pages.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Worker } from "node:worker_threads"

/**
 * Options for {@link start}.
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckpointerOptions {
  /** The database file (the writer's). */
  readonly filename: string
  /** How often the worker checkpoints, in milliseconds. */
  readonly intervalMillis: number
}

/**
 * The writer's automatic checkpoint mark (pages) while a checkpointer runs: SQLite's default is 1,000.
 *
 * @category constants
 * @since 0.1.0
 */
export const backstopPages = 4_000

// Plain CommonJS, run with `eval`: no file to resolve from the built package. A failed checkpoint
// (the file is busy, being closed) is skipped: the next tick, or the writer's backstop, catches up.
const source = `
const { DatabaseSync } = require("node:sqlite")
const { parentPort, workerData } = require("node:worker_threads")
const db = new DatabaseSync(workerData.filename)
db.exec("PRAGMA busy_timeout = 0")
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)")
const tick = () => { try { checkpoint.get() } catch {} }
const timer = setInterval(tick, workerData.intervalMillis)
parentPort.once("message", () => {
  clearInterval(timer)
  tick()
  db.close()
  parentPort.close()
})
`

/**
 * Starts a checkpointer for `filename` for the life of the scope, and says whether it runs: where
 * worker threads are not available it does not, and the caller keeps SQLite's own checkpoints.
 * Closing the scope runs a last checkpoint and waits for the worker to finish, so the caller can
 * close its own connection after.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = (options: CheckpointerOptions): Effect.Effect<boolean, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        try {
          const worker = new Worker(source, { eval: true, workerData: options })
          const running = { worker, exited: false }
          worker.once("exit", () => {
            running.exited = true
          })
          // Never the reason a process stays alive.
          worker.unref()
          worker.on("error", () => {})
          return running
        } catch {
          return undefined
        }
      }),
      (running) => running === undefined ? Effect.void : stop(running)
    ),
    (running) => running !== undefined
  )

const stop = (running: { readonly worker: Worker; readonly exited: boolean }): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    // A worker that already ended (it could not open the file, say) has nothing left to stop.
    if (running.exited) return resume(Effect.void)
    const { worker } = running
    // Referenced again while it stops: otherwise a process with nothing else to do exits before
    // the worker does, and this finalizer (and whatever follows it) never completes.
    worker.ref()
    worker.once("exit", () => resume(Effect.void))
    worker.postMessage("stop")
  })
