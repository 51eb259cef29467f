/**
 * An order saga on Effect's workflows, durable on Strata: reserve stock, charge the payment, ship.
 * When a step fails, the steps that succeeded are compensated (stock released, payment refunded)
 * in reverse order, and the workflow fails with a typed `OrderFailed`.
 *
 * Every step is an `Activity`: its result is recorded in the execution's stream
 * (`workflow-PlaceOrder-<executionId>`) by `StrataWorkflowEngine`, so a process that dies between
 * two steps leaves a history the next process replays; the recorded steps are not run again.
 * The side effects go through `Ledger` (here: events in `order-<id>`), so tests can count them.
 *
 * Run: node --conditions=@strata/source examples/orderSaga.ts
 */
import { EventStore, JobQueue, MemoryStore, StrataWorkflowEngine } from "@strata/core"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { Activity, Workflow } from "effect/workflow"

// region: ledger
/** Where the saga's side effects land: one event per effect in the order's stream. */
export class Ledger extends Context.Service<Ledger, {
  readonly record: (orderId: string, effect: string) => Effect.Effect<void>
}>()("examples/orderSaga/Ledger") {}

/** The ledger on the event store: `order-<id>` gets one event per effect. */
export const LedgerStore = Layer.effect(Ledger)(
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    return Ledger.of({
      record: (orderId, effect) =>
        Effect.orDie(Effect.asVoid(store.append(`order-${orderId}`, [{ type: effect, data: {} }])))
    })
  })
)

/** The effects recorded for an order, in order. */
export const effectsOf = (orderId: string) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    store.read(`order-${orderId}`).pipe(
      Stream.map((event) => event.type),
      Stream.runCollect,
      Effect.catchTag("StreamDeleted", () => Effect.succeed<Array<string>>([])),
      Effect.orDie
    ))
// endregion

// region: workflow
/** Why an order could not be placed; the steps before the failure were compensated. */
export class OrderFailed extends Schema.TaggedError<OrderFailed>("examples/orderSaga/OrderFailed")("OrderFailed", {
  step: Schema.String,
  reason: Schema.String
}) {}

export const PlaceOrder = Workflow.make("PlaceOrder", {
  payload: {
    orderId: Schema.String,
    sku: Schema.String,
    quantity: Schema.Number,
    amount: Schema.Number
  },
  success: Schema.Struct({ shipment: Schema.String }),
  error: OrderFailed,
  idempotencyKey: (order) => order.orderId
})

/** Cards decline above this amount (the failure path). */
export const cardLimit = 1_000

export const PlaceOrderLive = PlaceOrder.toLayer(Effect.fnUntraced(function*(order) {
  const ledger = yield* Ledger
  yield* Activity.make({
    name: "ReserveStock",
    execute: ledger.record(order.orderId, "StockReserved")
  }).pipe(Workflow.withCompensation(() => ledger.record(order.orderId, "StockReleased")))

  yield* Activity.make({
    name: "ChargePayment",
    error: OrderFailed,
    execute: order.amount > cardLimit
      ? Effect.fail(new OrderFailed({ step: "ChargePayment", reason: `card declined for ${order.amount}` }))
      : ledger.record(order.orderId, "PaymentCharged")
  }).pipe(Workflow.withCompensation(() => ledger.record(order.orderId, "PaymentRefunded")))

  const shipment = yield* Activity.make({
    name: "Ship",
    success: Schema.String,
    execute: Effect.as(ledger.record(order.orderId, "Shipped"), `shipment-${order.orderId}`)
  })
  return { shipment }
}))
// endregion

// region: layers
/** The saga with the durable engine over the store in context (its EventStore, LeaseStore, JobQueue). */
export const layer = (options?: StrataWorkflowEngine.Options) =>
  PlaceOrderLive.pipe(
    Layer.provideMerge(StrataWorkflowEngine.layer(options)),
    Layer.provideMerge(LedgerStore)
  )
// endregion

if (import.meta.main) {
  const program = Effect.gen(function*() {
    const shipped = yield* PlaceOrder.execute({ orderId: "o-1", sku: "book", quantity: 1, amount: 30 })
    yield* Effect.log(`shipped: ${shipped.shipment}`, yield* effectsOf("o-1"))
    const declined = yield* Effect.flip(
      PlaceOrder.execute({ orderId: "o-2", sku: "piano", quantity: 1, amount: 9_000 })
    )
    yield* Effect.log(`failed at ${declined.step}: ${declined.reason}`, yield* effectsOf("o-2"))
  })
  Effect.runPromise(
    program.pipe(
      Effect.provide(layer().pipe(Layer.provideMerge(Layer.merge(MemoryStore.layer(), JobQueue.layerMemory))))
    )
  )
}
