// The order saga (examples/orderSaga.ts) in its own OS process, for the saga crash test
// (SagaCrash.test.ts in packages/sqlite and packages/postgres). With START set it starts order
// ORDER_ID; then it runs the engine until that order's execution completes and prints its outcome.
// With KILL_BEFORE set to an effect name (StockReserved, PaymentCharged, Shipped), the process
// SIGKILLs itself inside the activity that applies that effect, before applying it.
//
// Run: node --conditions=@strata/source sagaWorker.ts with STRATA_BACKEND (sqlite | postgres),
// STRATA_TARGET (the SQLite file or the PostgreSQL URL), ORDER_ID, AMOUNT, START, KILL_BEFORE.
import { StrataWorkflowEngine } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Saga from "../../../examples/orderSaga.ts"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`sagaWorker: ${name} is not set`)
  return value
}

const backend = env("STRATA_BACKEND")
const target = env("STRATA_TARGET")
const order = { orderId: env("ORDER_ID"), sku: "book", quantity: 1, amount: Number(env("AMOUNT")) }
const killBefore = process.env.KILL_BEFORE

const store = backend === "postgres"
  ? PgStore.layer({ url: Redacted.make(target), migrate: false })
  : SqliteStore.layer({ filename: target, migrate: false, busyTimeout: "30 seconds" })
const jobs = SqlJobs.layer({
  dialect: backend === "postgres" ? PgDialect.dialect : SqliteDialect.dialect,
  backend,
  migrate: false
})

// The example's ledger, with a trap: dies inside the activity, before its effect.
const ledger = Layer.effect(Saga.Ledger)(
  Effect.gen(function*() {
    const inner = yield* Saga.Ledger
    return Saga.Ledger.of({
      record: (orderId, effect) =>
        Effect.suspend(() => {
          if (effect === killBefore) process.kill(process.pid, "SIGKILL")
          return inner.record(orderId, effect)
        })
    })
  })
).pipe(Layer.provide(Saga.LedgerStore))

const engine = Saga.PlaceOrderLive.pipe(
  Layer.provideMerge(
    StrataWorkflowEngine.layer({ lease: "1 second", jobLease: "1 second", pollInterval: "100 millis" })
  ),
  Layer.provideMerge(ledger)
)

const program = Effect.gen(function*() {
  if (process.env.START !== undefined) {
    yield* Saga.PlaceOrder.execute(order, { discard: true })
    console.log(`started ${order.orderId}`)
  }
  const outcome = yield* Saga.PlaceOrder.execute(order).pipe(
    Effect.map((shipped) => ({ shipped: shipped.shipment })),
    Effect.catchTag("OrderFailed", (failed) => Effect.succeed({ failed: failed.step }))
  )
  console.log(`outcome ${JSON.stringify(outcome)}`)
})

Effect.runFork(
  program.pipe(
    Effect.provide(engine.pipe(Layer.provideMerge(Layer.provideMerge(jobs, store)))),
    Effect.tapCause((cause) => Effect.sync(() => console.error("saga worker failed", cause))),
    Effect.onExit((exit) => Effect.sync(() => process.exit(exit._tag === "Success" ? 0 : 1)))
  )
)
