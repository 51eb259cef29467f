// Strata's spans by the OpenTelemetry semantic conventions: the database conventions on store spans,
// the messaging conventions on consumers' spans, and the link from a consumer's span to the span
// that appended the event. Recorded with Effect's own tracer (what @effect/opentelemetry hands to
// the SDK; examples/test/otel.test.ts checks the same through the SDK's in-memory exporter).
import { assert, describe, it } from "@effect/vitest"
import { Consumer, ConsumerGroup, Event, EventStore, MemoryStore } from "@strata/core"
import { Otel, Tracing } from "@strata/core/backend"
import { recordingTracer } from "@strata/test-utils/Spans"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"

// A finished span, as an exporter sees it.
interface Recorded {
  readonly name: string
  readonly kind: Tracer.SpanKind
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly attributes: Record<string, unknown>
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
}

// Runs `effect` with a tracer that records every span; returns the ended ones.
const traced = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const { started, tracer } = recordingTracer()
    const result = yield* Effect.withTracer(effect, tracer)
    const spans: Array<Recorded> = started.filter((span) => span.status._tag === "Ended").map((span) => ({
      name: span.name,
      kind: span.kind,
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: Option.getOrUndefined(span.parent)?.spanId,
      attributes: Object.fromEntries(span.attributes),
      links: span.links.map((link) => ({ traceId: link.span.traceId, spanId: link.span.spanId }))
    }))
    return { result, spans }
  })

const one = (spans: ReadonlyArray<Recorded>, name: string, where?: (span: Recorded) => boolean) => {
  const found = spans.filter((span) => span.name === name).filter(where ?? (() => true))
  assert.isAbove(found.length, 0, `a ${name} span among ${[...new Set(spans.map((s) => s.name))].join(", ")}`)
  return found[0]
}

describe("OpenTelemetry attributes", () => {
  it.live("store spans are database client spans: db.system.name, db.operation.name, db.collection.name", () =>
    Effect.gen(function*() {
      const { spans } = yield* traced(
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          yield* store.append("otel-1", [Event.make("A", {})])
          yield* Stream.runCollect(store.read("otel-1"))
        }).pipe(Effect.provide(MemoryStore.layer()))
      )
      const append = one(spans, "strata.append")
      assert.strictEqual(append.kind, "client")
      assert.deepStrictEqual(append.attributes, {
        "db.system.name": "strata.memory",
        "db.operation.name": "append",
        "strata.backend": "memory",
        "strata.stream": "otel-1",
        "strata.event.count": 1
      })
      const read = one(spans, "strata.read")
      assert.strictEqual(read.kind, "client")
      assert.strictEqual(read.attributes["db.operation.name"], "read")
    }))

  it.live("a backend's connection gives db.namespace, server.address and server.port, never credentials", () =>
    Effect.gen(function*() {
      const connection = Otel.connectionFromUrl("postgres://app:s3cret@db.internal:5433/orders?sslmode=off", "postgres")
      assert.deepStrictEqual(connection, {
        system: "postgresql",
        serverAddress: "db.internal",
        serverPort: 5433,
        namespace: "orders"
      })
      assert.deepStrictEqual(Otel.connectionFromUrl("kurrentdb://admin:changeit@[::1]?tls=false", "kurrentdb"), {
        system: "kurrentdb",
        serverAddress: "::1",
        serverPort: 2113
      })
      assert.isUndefined(Otel.connectionFromUrl("not a url", "postgres"))
      const { spans } = yield* traced(
        Effect.gen(function*() {
          const backend = yield* EventStore.EventStore
          const store = Tracing.eventStore(backend, connection)
          yield* store.append("otel-2", [Event.make("A", {})])
        }).pipe(Effect.provide(MemoryStore.layer()))
      )
      // The outer span (the store's own, without a connection, is its child).
      const append = one(spans, "strata.append", (s) => s.attributes["db.namespace"] !== undefined)
      assert.strictEqual(append.attributes["db.system.name"], "postgresql")
      assert.strictEqual(append.attributes["db.namespace"], "orders")
      assert.strictEqual(append.attributes["server.address"], "db.internal")
      assert.strictEqual(append.attributes["server.port"], 5433)
      assert.isFalse(JSON.stringify(spans.map((s) => s.attributes)).includes("s3cret"))
    }))

  it.live("a consumer's span has the messaging attributes and is linked to the span that appended the event", () =>
    Effect.gen(function*() {
      const { result, spans } = yield* traced(
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const appended = yield* store.append("order-1", [Event.make("Placed", {}, { correlationId: "conv-1" })])
            .pipe(Effect.withSpan("request"))
          const [event] = yield* Stream.runCollect(store.read("order-1"))
          const consumer = yield* Consumer.get("mailer")
          yield* consumer.waitFor(appended.position)
          const [reaction] = yield* Stream.runCollect(store.read("mail-order-1"))
          return { event, reaction }
        }).pipe(
          Effect.provide(
            Consumer.layer("mailer", {
              filter: { categories: ["order"] },
              handler: (event) =>
                Effect.flatMap(
                  EventStore.EventStore,
                  (store) => store.append(`mail-${event.stream}`, [Event.make("Mailed", {})])
                )
            }).pipe(Layer.provideMerge(MemoryStore.layer()))
          )
        )
      )
      const request = one(spans, "request")
      const { event, reaction } = result
      // The append recorded the caller's span in the event's metadata.
      assert.strictEqual(event.metadata.spanId, request.spanId)
      const processed = one(spans, "process $all", (s) => s.attributes["messaging.message.id"] === event.id)
      assert.strictEqual(processed.kind, "consumer")
      assert.deepStrictEqual(processed.attributes, {
        "messaging.system": "strata",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "$all",
        "messaging.destination.subscription.name": "mailer",
        "messaging.consumer.group.name": "mailer",
        "messaging.message.id": event.id,
        "messaging.message.conversation_id": "conv-1",
        "strata.stream": "order-1",
        "strata.event.type": "Placed",
        "strata.event.position": String(event.position)
      })
      // A root span of its own trace, linked to the request's span.
      assert.isUndefined(processed.parentSpanId)
      assert.notStrictEqual(processed.traceId, request.traceId)
      assert.deepStrictEqual(processed.links.map((link) => link.spanId), [request.spanId])
      assert.strictEqual(processed.links[0].traceId, request.traceId)
      // What the handler appends is in the process span's trace (and caused by the event).
      assert.strictEqual(reaction.metadata.traceId, processed.traceId)
      assert.strictEqual(reaction.metadata.causationId, event.id)
      const handlerAppend = one(spans, "strata.append", (s) => s.attributes["strata.stream"] === "mail-order-1")
      assert.strictEqual(handlerAppend.parentSpanId, processed.spanId)
    }))

  it.live("a batch handler's span counts the batch and links every appending span", () =>
    Effect.gen(function*() {
      const { result, spans } = yield* traced(
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          yield* store.append("item-1", [Event.make("Added", {})]).pipe(Effect.withSpan("first"))
          const last = yield* store.append("item-2", [Event.make("Added", {})]).pipe(Effect.withSpan("second"))
          const batches: Array<number> = []
          const done = yield* Deferred.make<void>()
          yield* Consumer.run("indexer", {
            filter: { categories: ["item"] },
            handleBatch: (events) =>
              Effect.andThen(
                Effect.sync(() => batches.push(events.length)),
                events.some((e) => e.position === last.position) ? Deferred.succeed(done, undefined) : Effect.void
              )
          }).pipe(Effect.forkScoped)
          yield* Deferred.await(done)
          return batches
        }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer()))
      )
      assert.deepStrictEqual(result, [2])
      const processed = one(spans, "process $all")
      assert.strictEqual(processed.attributes["messaging.batch.message_count"], 2)
      assert.isUndefined(processed.attributes["messaging.message.id"])
      assert.deepStrictEqual(
        processed.links.map((link) => link.spanId).sort(),
        [one(spans, "first").spanId, one(spans, "second").spanId].sort()
      )
    }))

  it.live("a consumer group's spans name the group and the partition", () =>
    Effect.gen(function*() {
      const { result, spans } = yield* traced(
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          yield* store.append("cart-7", [Event.make("Added", {})])
          const done = yield* Deferred.make<Event.RecordedEvent>()
          const fiber = yield* ConsumerGroup.run("carts", {
            partitions: 4,
            filter: { categories: ["cart"] },
            handler: (event) => Deferred.succeed(done, event)
          }).pipe(Effect.forkChild)
          const event = yield* Deferred.await(done)
          yield* Fiber.interrupt(fiber)
          return event
        }).pipe(Effect.provide(MemoryStore.layer()))
      )
      const processed = one(spans, "process $all", (s) => s.attributes["messaging.message.id"] === result.id)
      assert.strictEqual(processed.attributes["messaging.consumer.group.name"], "carts")
      assert.strictEqual(processed.attributes["messaging.destination.subscription.name"], "carts")
      assert.strictEqual(
        processed.attributes["messaging.destination.partition.id"],
        String(ConsumerGroup.partitionOf("cart-7", 4))
      )
    }))

  it.live("replaying a parked event: a consumer span under Consumer.replay, linked to the appending span", () =>
    Effect.gen(function*() {
      const { result, spans } = yield* traced(
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const appended = yield* store.append("pay-1", [Event.make("Charged", {})]).pipe(Effect.withSpan("charge"))
          let broken = true
          const consumer = yield* Consumer.make("ledger", {
            filter: { categories: ["pay"] },
            restart: Schedule.spaced("1 millis"),
            parkAfter: 1,
            handler: () => Effect.suspend(() => broken ? Effect.fail(new Error("poison")) : Effect.void)
          })
          while ((yield* consumer.parked).length === 0) yield* Effect.sleep("5 millis")
          broken = false
          yield* consumer.replay(appended.position)
          return appended
        }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer()))
      )
      const replay = one(spans, "Consumer.replay")
      const processed = one(spans, "process $all", (s) => s.attributes["strata.replay"] === true)
      assert.strictEqual(processed.parentSpanId, replay.spanId)
      assert.strictEqual(processed.kind, "consumer")
      assert.strictEqual(processed.attributes["messaging.consumer.group.name"], "ledger")
      assert.strictEqual(processed.attributes["strata.event.position"], String(result.position))
      assert.deepStrictEqual(processed.links.map((link) => link.spanId), [one(spans, "charge").spanId])
    }))

  it("links only W3C trace contexts from metadata, one per appending span, at most 128", () => {
    const traceId = "0af7651916cd43dd8448eb211c80319c"
    assert.isUndefined(Otel.linkToProducer({ traceId: "my-trace", spanId: "b7ad6b7169203331" }))
    assert.isUndefined(Otel.linkToProducer({ traceId, spanId: "0000000000000000" }))
    assert.isUndefined(Otel.linkToProducer(undefined))
    const events = Array.from({ length: 300 }, (_, i) => ({
      metadata: { traceId, spanId: (i % 200).toString(16).padStart(16, "a") }
    }))
    assert.strictEqual(Otel.linksToProducers(events.slice(0, 3).concat(events.slice(0, 3))).length, 3)
    assert.strictEqual(Otel.linksToProducers(events).length, Otel.maxLinks)
  })
})
