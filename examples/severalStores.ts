// The "one program, several stores" guide's examples (docs/several-stores.md quotes each region
// between `// #region` and `// #endregion`; examples/test/severalStores.test.ts runs them on memory
// and SQLite and checks every value the guide states).
import { Consumer, DocumentStore, Event, EventStore, Store, Tenant, TenantStores } from "@strata/strata"
import { Effect, Layer, Option, Schema, Stream } from "effect"

// #region declare
// Two bounded contexts, each with a store of its own. The names key the services, so
// `Orders.EventStore` and `Billing.EventStore` are two distinct, typed services.
export const Orders = Store.tag("orders")
export const Billing = Store.tag("billing")
// #endregion declare

// #region named
// Code that knows which store it talks to asks for it by name.
export const placeOrder = (id: string, total: number) =>
  Effect.gen(function*() {
    const orders = yield* Orders.EventStore
    return yield* orders.append(`order-${id}`, [Event.make("OrderPlaced", { total })])
  })
// #endregion named

// #region use
// Code written against the unnamed services (yours, or Aggregate, Projection, the testing kit)
// runs on a named store with `use`...
const eventsOf = (stream: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => Stream.runCollect(store.read(stream)))

export const orderTypes = (id: string) =>
  Orders.use(eventsOf(`order-${id}`)).pipe(Effect.map((events) => events.map((event) => event.type)))

// ...and layers written against them (consumers, groups) with `provide`. This one follows the
// orders log and writes invoices into billing.
export const Invoices = DocumentStore.collection("invoices", Schema.Struct({ total: Schema.Finite }))

export const Invoicing = Orders.provide(
  Consumer.layer("invoicing", {
    filter: { types: ["OrderPlaced"] },
    handler: (event) =>
      Effect.gen(function*() {
        const billing = yield* Billing.DocumentStore
        const { total } = event.data as { readonly total: number }
        yield* billing.put(Invoices, event.stream, { total })
      })
  })
)
// #endregion use

// #region program
export const program = Effect.gen(function*() {
  const placed = yield* placeOrder("1", 42)
  yield* (yield* Consumer.get("invoicing")).waitFor(placed.position)
  const invoice = yield* (yield* Billing.DocumentStore).get(Invoices, "order-1")
  // The order is in orders only: billing has no such stream.
  const inBilling = yield* (yield* Billing.EventStore).streamInfo("order-1")
  return {
    types: yield* orderTypes("1"),
    invoice: Option.map(invoice, (doc) => doc.value.total),
    inBilling: inBilling.status
  }
})

// In the application: SQLite for orders, PostgreSQL for billing, e.g.
//   Orders.layer(SqliteStore.layer({ filename: "orders.db" }))
//   Billing.layer(PgStore.layer({ url: Redacted.make(process.env.BILLING_URL!) }))
export const live = (orders: Layer.Layer<Store.Services, unknown>, billing: Layer.Layer<Store.Services, unknown>) =>
  Invoicing.pipe(Layer.provideMerge(Layer.merge(Orders.layer(orders), Billing.layer(billing))))
// #endregion program

// #region tenantCode
// Tenant code is ordinary store code...
const openAccount = (owner: string) =>
  Effect.flatMap(
    EventStore.EventStore,
    (store) => store.append(`account-${owner}`, [Event.make("AccountOpened", { owner })])
  )

// ...run for a tenant. The tenant's store opens on first use (its migrations run once).
export const tenants = Effect.gen(function*() {
  yield* Tenant.with("acme")(openAccount("ada"))
  yield* Tenant.with("globex")(openAccount("grace"))
  yield* Tenant.with("globex")(openAccount("alan"))

  // Each tenant has its own log: its own positions, its own $all.
  const count = (tenant: string) =>
    Tenant.with(tenant)(Effect.flatMap(EventStore.EventStore, (store) => Stream.runCount(store.readAll())))
  return { acme: yield* count("acme"), globex: yield* count("globex") }
})
// #endregion tenantCode

// #region refused
// No default tenant, and ids that could escape a path or a URL are refused before anything opens.
export const refused = Effect.gen(function*() {
  const error = yield* Effect.flip(Tenant.with("../globex")(openAccount("mallory")))
  return { tag: error._tag, reason: error._tag === "TenantError" ? error.reason : undefined }
})
// #endregion refused

// #region tenantLayer
// The tenants' stores: where each is (a resolver), at most `maxOpen` open, closed when idle.
// In the application, from a URL template (`@strata/strata`):
//   TenantStores.layer(TenantUrl.template("sqlite:./tenants/{tenant}.db", { tenants: ["acme", "globex"] }))
export const tenantStores = (store: (tenant: string) => Layer.Layer<Store.Services, unknown>) =>
  TenantStores.layer(
    TenantStores.make({
      store: (tenant) => Effect.succeed(store(tenant)),
      tenants: Effect.succeed(["acme", "globex"])
    }),
    { maxOpen: 100, idleTimeout: "5 minutes" }
  )

export const Greetings = DocumentStore.collection("greetings", Schema.Struct({ sent: Schema.Boolean }))

// A consumer for every known tenant (and for tenants added later, at the next refresh): its lag
// metric and its logs carry `strata.tenant`.
export const Welcome = Tenant.layerEach(
  Consumer.layer("welcome", {
    filter: { types: ["AccountOpened"] },
    handler: (event) =>
      Effect.flatMap(
        DocumentStore.DocumentStore,
        (docs) => docs.put(Greetings, event.stream, { sent: true })
      )
  }),
  { refresh: "1 minute" }
)
// #endregion tenantLayer
