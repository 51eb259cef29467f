import { jobQueueSuite, suite } from "@strata/conformance"
import { Event, EventStore } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlJobs } from "@strata/sql"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

// The whole conformance suite on a store in a schema of its own (`PgStore.layer({ schema })`: every
// connection's search_path is the schema, which the first start creates), in a database whose
// `public` schema holds another store with events of its own, so a query that strayed out of the
// schema would see them.
const schema = "conformance_orders"

const publicNeighbour = Layer.effectDiscard(Effect.gen(function*() {
  const db = yield* PgTestDatabase
  yield* Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(PgStore.layer({ url: db.url, maxConnections: 2 }))
    const store = Context.get(context, EventStore.EventStore)
    // A neighbour's events and checkpoint in public: the schema's store must see none of them.
    yield* store.append("neighbour-1", [Event.make("Neighbour", {}), Event.make("Neighbour", {})])
    yield* store.saveCheckpoint("neighbour", 1n)
  }))
}))

const database = publicNeighbour.pipe(Layer.provideMerge(PgTestDatabase.layer))

const storeInSchema = (projections: Parameters<typeof PgStore.layer>[0]["projections"]) =>
  Layer.unwrap(Effect.map(PgTestDatabase, (db) => PgStore.layer({ url: db.url, schema, projections }))).pipe(
    Layer.provide(database)
  )

suite("postgres, schema conformance_orders", (projections) => storeInSchema(projections))

jobQueueSuite(
  "postgres, schema conformance_orders",
  SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
    Layer.provideMerge(storeInSchema(undefined))
  ),
  { outbox: true }
)
