// Runs the order saga (examples/orderSaga.ts) on memory and SQLite: an order ships with each
// effect applied once; a declined payment releases the stock and fails with OrderFailed; executing
// an order again answers from its history. The crash test (a process SIGKILLed between steps) is
// SagaCrash.test.ts in packages/sqlite and packages/postgres.
import { assert, describe, it } from "@effect/vitest"
import { JobQueue, MemoryStore } from "@strata/core"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Saga from "../orderSaga.ts"

const stores = [
  ["memory", () => Layer.merge(MemoryStore.layer(), JobQueue.layerMemory)],
  [
    "sqlite",
    () =>
      SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
        Layer.provideMerge(SqliteStore.layer({ filename: ":memory:" }))
      )
  ]
] as const

for (const [name, store] of stores) {
  describe(`the order saga (${name})`, () => {
    const provide = Effect.provide(Saga.layer({ pollInterval: "50 millis" }).pipe(Layer.provideMerge(store())))

    it.live("an order ships: reserve, charge, ship, each once; again, it answers from its history", () =>
      Effect.gen(function*() {
        const order = { orderId: "o-1", sku: "book", quantity: 1, amount: 30 }
        assert.deepStrictEqual(yield* Saga.PlaceOrder.execute(order), { shipment: "shipment-o-1" })
        assert.deepStrictEqual(yield* Saga.PlaceOrder.execute(order), { shipment: "shipment-o-1" })
        assert.deepStrictEqual(yield* Saga.effectsOf("o-1"), ["StockReserved", "PaymentCharged", "Shipped"])
      }).pipe(provide))

    it.live("a declined payment releases the stock and fails with OrderFailed", () =>
      Effect.gen(function*() {
        const order = { orderId: "o-2", sku: "piano", quantity: 1, amount: Saga.cardLimit + 1 }
        const error = yield* Effect.flip(Saga.PlaceOrder.execute(order))
        assert.instanceOf(error, Saga.OrderFailed)
        assert.strictEqual(error.step, "ChargePayment")
        assert.deepStrictEqual(yield* Saga.effectsOf("o-2"), ["StockReserved", "StockReleased"])
      }).pipe(provide))
  })
}
