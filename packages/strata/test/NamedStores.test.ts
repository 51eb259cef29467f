/**
 * Named stores (issue 26): the whole conformance suite on a named SQLite store, and one program with
 * two bounded contexts, orders on SQLite and billing on PostgreSQL, each with typed services of its
 * own; a consumer, an aggregate and a projection bound to one store by name; nothing crosses over.
 */
import { assert, describe, layer } from "@effect/vitest"
import { suite } from "@strata/conformance"
import { PgStore } from "@strata/postgres"
import { SqliteStore } from "@strata/sqlite"
import {
  Aggregate,
  Consumer,
  DocumentStore,
  Event,
  EventCodec,
  EventStore,
  MemoryStore,
  NamedStore,
  Store
} from "@strata/strata"
import { PgTestDatabase } from "@strata/test-utils"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const Orders = Store.tag("orders")
const Billing = NamedStore.make("billing")

// The suite's code uses the unnamed services: run it through the named bundle, the way a program
// binds consumers and its own code to a named store. The exactly-once topic runs too: the bundle
// carries the SQLite store's own SqlClient.
suite(
  "sqlite :memory:, named store",
  (projections) =>
    Orders.unnamed.pipe(
      Layer.provide(
        Layer.merge(
          Orders.layer(SqliteStore.layer({ filename: ":memory:", projections })),
          Billing.layer(MemoryStore.layer())
        )
      )
    ),
  { pollInterval: "250 millis" }
)

const Placed = EventCodec.type("OrderPlaced", { schema: Schema.Struct({ total: Schema.Finite }) })
const OrderEvents = EventCodec.make([Placed])
const Order = Aggregate.make({
  category: "order",
  codec: OrderEvents,
  initial: { placed: false, total: 0 },
  evolve: (_state, event) => ({ placed: true, total: event.total }),
  decide: (command: { readonly total: number }, state) => state.placed ? [] : [Placed.make({ total: command.total })]
})
const Invoice = Schema.Struct({ order: Schema.String, amount: Schema.Finite })
const Invoices = DocumentStore.collection("invoices", Invoice)

// Billing's consumer of the orders log: bound to the orders store, it writes invoices into billing
// (through Billing's named DocumentStore, the one thing in it that is not the orders store).
const Invoicing = Orders.provide(
  Consumer.layer("invoicing", {
    filter: EventCodec.filter(OrderEvents),
    handler: (event) =>
      Effect.gen(function*() {
        const billing = yield* Billing.DocumentStore
        const total = (event.data as { readonly total: number }).total
        yield* billing.put(Invoices, event.stream, { order: event.stream, amount: total })
      })
  })
)

const Program = Invoicing.pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      Orders.layer(SqliteStore.layer({ filename: ":memory:" })),
      Billing.layer(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
    )
  )
)

describe("one program, two stores", () => {
  layer(Program, { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.effect("orders on SQLite and billing on PostgreSQL, each by name, sharing nothing", () =>
      Effect.gen(function*() {
        const orders = yield* Orders.EventStore
        const billing = yield* Billing.EventStore
        assert.strictEqual(orders.backend, "sqlite")
        assert.strictEqual(billing.backend, "postgres")
        assert.strictEqual((yield* Orders.Backend).name, "sqlite")
        assert.strictEqual((yield* Billing.Backend).name, "postgres")

        const id = `o${Math.random().toString(16).slice(2, 10)}`
        // An aggregate written against the unnamed EventStore, decided on the orders store.
        const decided = yield* Orders.use(Order.decide(id, { total: 42 }))
        assert.strictEqual(decided.state.total, 42)

        // The event is in orders, and nowhere in billing.
        const inOrders = yield* Stream.runCollect(orders.read(`order-${id}`))
        assert.deepStrictEqual(inOrders.map((event) => event.type), ["OrderPlaced"])
        const inBilling = yield* billing.streamInfo(`order-${id}`)
        assert.strictEqual(inBilling.lastVersion, undefined)

        // The consumer bound to orders saw it and wrote the invoice into billing (PostgreSQL).
        yield* (yield* Consumer.get("invoicing")).waitFor(inOrders[0]!.position)
        const invoice = yield* (yield* Billing.DocumentStore).get(Invoices, `order-${id}`)
        assert.deepStrictEqual(
          Option.map(invoice, (doc) => doc.value),
          Option.some({ order: `order-${id}`, amount: 42 })
        )
        const noInvoiceInOrders = yield* (yield* Orders.DocumentStore).get(Invoices, `order-${id}`)
        assert.isTrue(Option.isNone(noInvoiceInOrders))

        // Each store's checkpoints are its own: the consumer's is in orders only.
        const checkpointInOrders = yield* Orders.use(
          Effect.flatMap(EventStore.EventStore, (store) => store.loadCheckpoint("invoicing"))
        )
        assert.isTrue(Option.isSome(checkpointInOrders))
        assert.isTrue(Option.isNone(yield* billing.loadCheckpoint("invoicing")))

        // A stream of the named store, read with code written for the unnamed one.
        const types = yield* Stream.runCollect(
          Orders.useStream(Stream.unwrap(Effect.map(EventStore.EventStore, (store) => store.read(`order-${id}`))))
        )
        assert.deepStrictEqual(types.map((event) => event.type), ["OrderPlaced"])

        // Leases are per store too: the same lease name is free in billing while orders holds it.
        const held = yield* (yield* Orders.LeaseStore).acquire(`lease-${id}`, "a", Duration.seconds(10))
        const other = yield* (yield* Billing.LeaseStore).acquire(`lease-${id}`, "b", Duration.seconds(10))
        assert.isTrue(Option.isSome(held))
        assert.isTrue(Option.isSome(other))

        // Units of work commit on their own store: a billing write inside an orders unit of work is
        // not rolled back with it (there is no transaction across stores).
        const failed = yield* Effect.exit(
          Orders.use(
            Effect.gen(function*() {
              const unit = yield* (yield* Orders.UnitOfWork).transaction(
                Effect.gen(function*() {
                  yield* (yield* EventStore.EventStore).append(`order-${id}-x`, [Event.make("X", {})])
                  yield* billing.append(`invoice-${id}`, [Event.make("Issued", {})])
                  return yield* Effect.fail("abort" as const)
                })
              )
              return unit
            })
          )
        )
        assert.isTrue(failed._tag === "Failure")
        assert.strictEqual((yield* orders.streamInfo(`order-${id}-x`)).lastVersion, undefined)
        assert.strictEqual((yield* billing.streamInfo(`invoice-${id}`)).lastVersion, 0n)
      }))
  })
})
