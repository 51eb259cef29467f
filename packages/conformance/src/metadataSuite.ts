/**
 * Trace and causation metadata: every append records the caller's span (`traceId`, `spanId`), and
 * events appended while handling an event (`Event.causedBy`, consumers) record it as their cause
 * and inherit its correlation id. Metadata given with an event wins. The same on every backend:
 * the ids are filled before the backend sees the events, and the backend must store them.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Consumer, DocumentStore, Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { names, readStream, uuid, within } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the metadata propagation tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const metadataSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout, supportsAppendMany } = resolve(options)

  describe("trace and causation metadata", () => {
    it.effect("an append records the traceId and spanId of the span it is called in", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const span = yield* Effect.withSpan(
          Effect.tap(Effect.currentSpan, () => store.append(n.stream(), [Event.make(n.type("E"), {})])),
          "caller"
        )
        const [event] = yield* readStream(n.stream())
        assert.deepStrictEqual(event.metadata, { traceId: span.traceId, spanId: span.spanId })
      }))

    it.effect("appendMany and a document put with events record the span on every event", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
        const span = yield* Effect.withSpan(
          Effect.gen(function*() {
            if (supportsAppendMany) {
              yield* store.appendMany([
                { stream: n.stream("a"), events: [Event.make(n.type("E"), {})] },
                { stream: n.stream("b"), events: [Event.make(n.type("E"), {}), Event.make(n.type("E"), {})] }
              ])
            }
            yield* docs.put(collection, "d", { ok: true }, {
              events: [{ stream: n.stream("doc"), events: [Event.make(n.type("E"), {}, { note: "kept" })] }]
            })
            return yield* Effect.currentSpan
          }),
          "caller"
        )
        const traced = { traceId: span.traceId, spanId: span.spanId }
        const written = supportsAppendMany ? ["a", "b", "doc"] : ["doc"]
        for (const suffix of written) {
          for (const event of yield* readStream(n.stream(suffix))) {
            assert.deepStrictEqual(
              event.metadata,
              suffix === "doc" ? { ...traced, note: "kept" } : traced,
              `metadata of ${event.stream}@${event.version}`
            )
          }
        }
      }))

    it.effect("events appended while handling an event get its id as causationId and its correlationId", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const correlationId = uuid()
        yield* store.append(n.stream("cause"), [Event.make(n.type("Cause"), {}, { correlationId })])
        const [cause] = yield* readStream(n.stream("cause"))
        yield* store.append(n.stream("effect"), [Event.make(n.type("Effect"), {})]).pipe(Event.causedBy(cause))
        const [effect] = yield* readStream(n.stream("effect"))
        assert.deepStrictEqual(effect.metadata, { causationId: cause.id, correlationId })
      }))

    it.effect("an event without a correlationId starts the conversation: its id is the correlationId", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("cause"), [Event.make(n.type("Cause"), {})])
        const [cause] = yield* readStream(n.stream("cause"))
        const [first, second] = [Event.make(n.type("Effect"), {}), Event.make(n.type("Effect"), {})]
        yield* store.append(n.stream("effect"), [first, second]).pipe(Event.causedBy(cause))
        const effects = yield* readStream(n.stream("effect"))
        assert.deepStrictEqual(effects.map((e) => e.metadata), [
          { causationId: cause.id, correlationId: cause.id },
          { causationId: cause.id, correlationId: cause.id }
        ])
      }))

    it.effect("keys the event's own metadata sets win over the filled ones; the others are filled", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const cause = { id: uuid(), metadata: { correlationId: "conversation" } }
        const span = yield* Effect.withSpan(
          Effect.tap(Effect.currentSpan, () =>
            store.append(n.stream(), [
              Event.make(n.type("E"), {}, { causationId: "mine", traceId: "my-trace", correlationId: undefined })
            ]).pipe(Event.causedBy(cause))),
          "caller"
        )
        const [event] = yield* readStream(n.stream())
        assert.deepStrictEqual(event.metadata, {
          causationId: "mine",
          traceId: "my-trace",
          correlationId: "conversation",
          spanId: span.spanId
        })
      }))

    it.effect("Event.correlatedWith sets the correlationId of every append inside it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), [Event.make(n.type("E"), {})]).pipe(Event.correlatedWith("request-7"))
        const [event] = yield* readStream(n.stream())
        assert.deepStrictEqual(event.metadata, { correlationId: "request-7" })
      }))

    it.effect("a consumer's handler appends with the handled event as cause, inheriting its correlationId", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const correlationId = uuid()
        const fiber = yield* Effect.forkChild(
          Consumer.run(n.checkpoint(), {
            filter: { streamPrefixes: [n.stream("in")] },
            handler: () => Effect.asVoid(store.append(n.stream("out"), [Event.make(n.type("Reaction"), {})]))
          })
        )
        yield* store.append(n.stream("in"), [Event.make(n.type("Trigger"), {}, { correlationId })])
        const [trigger] = yield* readStream(n.stream("in"))
        const [reaction] = yield* Stream.runCollect(Stream.take(store.subscribe(n.stream("out")), 1)).pipe(
          within(deliveryTimeout, "the consumer's reaction")
        )
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(reaction.metadata.causationId, trigger.id)
        assert.strictEqual(reaction.metadata.correlationId, correlationId)
      }))
  })
}
