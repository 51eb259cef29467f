// The saga crash scenario (SagaCrash.test.ts in packages/sqlite and packages/postgres): a worker
// process (sagaWorker.ts) starts an order of examples/orderSaga.ts and is SIGKILLed inside a step,
// before its effect; a second process resumes the execution from its stream and completes it. Each
// effect is applied once.
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Saga from "../../../examples/orderSaga.ts"
import type { Target } from "./GroupProcesses.ts"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")
const node = Path.join(root, "node_modules", ".bin", "node")
const workerPath = Path.join(import.meta.dirname, "sagaWorker.ts")

const runWorker = (target: Target, env: Record<string, string>) =>
  Effect.promise(() =>
    new Promise<{ readonly exit: number | string | null; readonly output: string }>((resolve) => {
      let output = ""
      const child = ChildProcess.spawn(node, ["--conditions=@strata/source", workerPath], {
        env: { ...process.env, STRATA_BACKEND: target.backend, STRATA_TARGET: target.target, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child.stdout.on("data", (chunk: Buffer) => output += chunk.toString())
      child.stderr.on("data", (chunk: Buffer) => output += chunk.toString())
      child.on("exit", (code, signal) => resolve({ exit: signal ?? code, output }))
    })
  )

/** What the scenario saw: both processes' exits and output, the effects after each. */
export interface SagaCrashResult {
  readonly first: { readonly exit: number | string | null; readonly output: string }
  readonly afterCrash: ReadonlyArray<string>
  readonly second: { readonly exit: number | string | null; readonly output: string }
  readonly effects: ReadonlyArray<string>
}

/**
 * Starts order `orderId` in a process that dies before applying `killBefore`, then resumes it in
 * another. Needs the store's `EventStore` on `target`, migrated (jobs too).
 */
export const sagaCrash = (target: Target, options: {
  readonly orderId: string
  readonly amount: number
  readonly killBefore: string
}) =>
  Effect.gen(function*() {
    const order = { ORDER_ID: options.orderId, AMOUNT: String(options.amount) }
    const first = yield* runWorker(target, { ...order, START: "1", KILL_BEFORE: options.killBefore })
    const afterCrash = yield* Saga.effectsOf(options.orderId)
    const second = yield* runWorker(target, order)
    const effects = yield* Saga.effectsOf(options.orderId)
    return { first, afterCrash, second, effects } satisfies SagaCrashResult
  })
