// D1 by the OpenTelemetry conventions: the store's spans say `db.system.name: "sqlite"` (D1 is SQLite)
// and, when the layer is told the database's name, `db.namespace`, as the driver's statement spans do;
// the appending span's ids come back from the metadata D1 stored. Recorded with Effect's own tracer.
import type * as D1Client from "@effect/sql-d1/D1Client"
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { D1Store } from "@strata/d1"
import { recordingTracer } from "@strata/test-utils/Spans"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { D1TestDatabase } from "./utils.ts"

// Appends in a `request` span through a D1 store built with `options`; returns every span started,
// the request's and the stored event's metadata.
const appendTraced = (options: Omit<D1Client.D1ClientConfig & D1Store.D1StoreOptions, "db">) =>
  Effect.gen(function*() {
    const { db } = yield* D1TestDatabase
    const { started, tracer } = recordingTracer()
    const stream = `order-${crypto.randomUUID().slice(0, 8)}`
    const [request, event] = yield* Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const request = yield* store.append(stream, [Event.make("Placed", {})]).pipe(
        Effect.andThen(Effect.currentSpan),
        Effect.withSpan("request")
      )
      const [event] = yield* Stream.runCollect(store.read(stream))
      return [request, event] as const
    }).pipe(Effect.provide(D1Store.layer({ db, ...options })), Effect.withTracer(tracer))
    const append = started.find((span) => span.name === "strata.append")
    assert.isDefined(append, "the store's append span")
    const statements = started.filter((span) => span.name.startsWith("sql.") && span.parent._tag === "Some")
    assert.isNotEmpty(statements, "the driver's statement spans")
    return { append: append!, statements, request, event }
  })

describe("D1 spans by the OpenTelemetry conventions", () => {
  it.layer(D1TestDatabase.layer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("store and statement spans name the database given as `database`", () =>
      Effect.gen(function*() {
        const { append, event, request, statements } = yield* appendTraced({ database: "orders" })
        assert.strictEqual(append.kind, "client")
        assert.strictEqual(append.attributes.get("db.system.name"), "sqlite")
        assert.strictEqual(append.attributes.get("db.namespace"), "orders")
        assert.strictEqual(append.attributes.get("db.operation.name"), "append")
        assert.strictEqual(append.attributes.get("strata.backend"), "d1")
        for (const span of statements) {
          assert.strictEqual(span.attributes.get("db.system.name"), "sqlite", span.name)
          assert.strictEqual(span.attributes.get("db.namespace"), "orders", span.name)
        }
        // The appending span's ids went through D1 and back (what a consumer's span links to).
        assert.strictEqual(event.metadata.traceId, request.traceId)
        assert.strictEqual(event.metadata.spanId, request.spanId)
      }))

    it.effect("without `database` the spans carry db.system.name only (a binding does not tell its name)", () =>
      Effect.gen(function*() {
        const { append, statements } = yield* appendTraced({})
        assert.strictEqual(append.attributes.get("db.system.name"), "sqlite")
        assert.isFalse(append.attributes.has("db.namespace"))
        for (const span of statements) assert.isFalse(span.attributes.has("db.namespace"), span.name)
      }))

    it.effect("spanAttributes given to the client win over `database` on the statement spans", () =>
      Effect.gen(function*() {
        const { append, statements } = yield* appendTraced({
          database: "orders",
          spanAttributes: { "db.namespace": "orders-eu", "cloud.region": "weur" }
        })
        assert.strictEqual(append.attributes.get("db.namespace"), "orders")
        for (const span of statements) {
          assert.strictEqual(span.attributes.get("db.namespace"), "orders-eu", span.name)
          assert.strictEqual(span.attributes.get("cloud.region"), "weur", span.name)
        }
      }))
  })
})
