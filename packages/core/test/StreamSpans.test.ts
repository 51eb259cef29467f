/**
 * The stream wrappers' spans (Tracing on subscribe/subscribeAll/read/readAll): made when the stream
 * starts, the parent of what its pulls do, ended with the stream's exit, also when the consumer
 * stops early; under Retry each attempt has its own span, ended before the next opens; around a
 * retrying stream one span lasts across its attempts. Made only when a tracer that exports is
 * installed (not Effect's default one), so an idle subscription holds no span for nobody. Under
 * Store.layer's order (Metrics, Retry, Tracing) all three run in the stream's one pull.
 */
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, MemoryStore, Metrics, Retry, StoreError } from "@strata/core"
import { Tracing } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"

const recording = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer, named: (name: string) => spans.filter((span) => span.name === name) }
}

const parentName = (span: Tracer.NativeSpan) =>
  Option.isSome(span.parent) && span.parent.value._tag === "Span" ? span.parent.value.name : undefined

/** A memory store whose subscribe runs `live` for its pulls after the stored events. */
const storeWith = (live: (stream: string) => Stream.Stream<Event.RecordedEvent, StoreError.EventStoreError>) =>
  Effect.map(MemoryStore.make(), (backend) =>
    ({
      ...backend.eventStore,
      subscribe: (stream: string) => live(stream)
    }) as EventStore.EventStoreShape)

describe("stream spans", () => {
  it.effect("a subscription's span carries its attributes, parents what its pulls do, and ends when the consumer stops", () => {
    const { named, tracer } = recording()
    return Effect.gen(function*() {
      const backend = yield* MemoryStore.make()
      yield* backend.eventStore.append("spans-1", [Event.make("A", {}), Event.make("B", {})])
      const inner = (stream: string) =>
        Stream.mapEffect(backend.eventStore.read(stream), (event) => Effect.withSpan(Effect.succeed(event), "inner"))
      const store = Tracing.eventStore({ ...backend.eventStore, subscribe: inner })
      const got = yield* Stream.runCollect(Stream.take(store.subscribe("spans-1"), 1))
      assert.strictEqual(got.length, 1)
      const [span] = named("strata.subscribe")
      assert.strictEqual(span.attributes.get("strata.stream"), "spans-1")
      assert.strictEqual(span.attributes.get("strata.backend"), "memory")
      assert.strictEqual(span.status._tag, "Ended", "ended when the consumer took what it wanted")
      assert.isAtLeast(named("inner").length, 1)
      for (const child of named("inner")) assert.strictEqual(parentName(child), "strata.subscribe")
    }).pipe(Effect.withTracer(tracer))
  })

  it.effect("a failed subscription's span ends with the failure; a finished read's with success", () => {
    const { named, tracer } = recording()
    return Effect.gen(function*() {
      const store = Tracing.eventStore(
        yield* storeWith((stream) => Stream.fail(new StoreError.StreamDeleted({ stream, tombstoned: true })))
      )
      const error = yield* Effect.flip(Stream.runCollect(store.subscribe("spans-2")))
      assert.strictEqual(error._tag, "StreamDeleted")
      const [span] = named("strata.subscribe")
      assert.isTrue(span.status._tag === "Ended" && span.status.exit._tag === "Failure")
      yield* Stream.runCollect(store.read("spans-2"))
      const [read] = named("strata.read")
      assert.isTrue(read.status._tag === "Ended" && read.status.exit._tag === "Success")
    }).pipe(Effect.withTracer(tracer))
  })

  it.live("under Retry, each attempt has its own span, ended before the next attempt opens", () => {
    const { named, tracer } = recording()
    return Effect.gen(function*() {
      let attempts = 0
      const backend = yield* storeWith(() =>
        Stream.suspend(() => {
          attempts++
          // What was open when the next attempt starts: every earlier attempt's span must be ended.
          const open = named("strata.subscribe").filter((span) => span.status._tag !== "Ended").length
          return attempts < 3
            ? Stream.fail(new StoreError.StoreUnavailable({ operation: "test", reason: `open ${open}` }))
            : Stream.make({ version: 0n, position: 1n, open } as unknown as Event.RecordedEvent)
        })
      )
      const store = Retry.withRetry(Tracing.eventStore(backend), {
        streams: Schedule.spaced("1 millis")
      })
      const [event] = yield* Stream.runCollect(Stream.take(store.subscribe("spans-3"), 1))
      assert.strictEqual((event as unknown as { open: number }).open, 1, "only the current attempt's span is open")
      const spans = named("strata.subscribe")
      assert.strictEqual(spans.length, 3)
      for (const span of spans.slice(0, 2)) {
        assert.isTrue(span.status._tag === "Ended" && span.status.exit._tag === "Failure", "a failed attempt's span")
      }
      assert.strictEqual(spans[2].status._tag, "Ended")
    }).pipe(Effect.withTracer(tracer))
  })

  it.live("around a retrying stream (Tracing outside Retry) one span lasts across the attempts", () => {
    const { named, tracer } = recording()
    return Effect.gen(function*() {
      let attempts = 0
      const backend = yield* storeWith(() =>
        Stream.suspend(() =>
          ++attempts < 3
            ? Stream.fail(new StoreError.StoreUnavailable({ operation: "test", reason: "down" }))
            : Stream.make({ version: 0n, position: 1n } as unknown as Event.RecordedEvent)
        )
      )
      const store = Tracing.eventStore(Retry.withRetry(backend, { streams: Schedule.spaced("1 millis") }))
      const got = yield* Stream.runCollect(Stream.take(store.subscribe("spans-4"), 1))
      assert.strictEqual(got.length, 1)
      assert.strictEqual(attempts, 3)
      const spans = named("strata.subscribe")
      assert.strictEqual(spans.length, 1, "one span for the whole retrying stream")
      assert.isTrue(spans[0].status._tag === "Ended" && spans[0].status.exit._tag === "Success")
    }).pipe(Effect.withTracer(tracer))
  })

  it.live("Store.layer's order in one pull: per-attempt spans, resumption after the last delivery, every event counted once", () => {
    const { named, tracer } = recording()
    return Effect.gen(function*() {
      const backend = yield* MemoryStore.make()
      yield* backend.eventStore.append("spans-5", [Event.make("A", {}), Event.make("B", {}), Event.make("C", {})])
      let attempts = 0
      // The first attempt delivers one event, then fails transiently; the second resumes after it.
      const flaky: EventStore.EventStoreShape = {
        ...backend.eventStore,
        subscribe: (stream, options) =>
          Stream.suspend(() =>
            ++attempts === 1
              ? Stream.concat(
                Stream.take(backend.eventStore.subscribe(stream, options), 1),
                Stream.fail(new StoreError.StoreUnavailable({ operation: "test", reason: "down" }))
              )
              : backend.eventStore.subscribe(stream, options)
          )
      }
      const store = Metrics.withMetrics(
        Retry.withRetry(Tracing.eventStore(flaky), { streams: Schedule.spaced("1 millis") })
      )
      const got = yield* Stream.runCollect(Stream.take(store.subscribe("spans-5"), 3))
      assert.deepStrictEqual(got.map((event) => event.type), ["A", "B", "C"])
      const spans = named("strata.subscribe")
      assert.strictEqual(spans.length, 2, "one span per attempt")
      assert.isTrue(spans[0].status._tag === "Ended" && spans[0].status.exit._tag === "Failure")
      assert.strictEqual(spans[1].status._tag, "Ended")
      const counted = yield* Metric.value(
        Metric.withAttributes(Metrics.eventsReadTotal, { backend: "memory", operation: "subscribe" })
      )
      assert.strictEqual(counted.count, 3)
    }).pipe(Effect.withTracer(tracer), Effect.provideService(Metric.MetricRegistry, new Map()))
  })

  it.effect("no span without a tracer that exports: the pulls run under the caller's span", () =>
    Effect.gen(function*() {
      const backend = yield* MemoryStore.make()
      yield* backend.eventStore.append("spans-6", [Event.make("A", {})])
      const parents: Array<string | undefined> = []
      const inner = (stream: string) =>
        Stream.mapEffect(
          backend.eventStore.read(stream),
          (event) =>
            Effect.map(Effect.option(Effect.currentParentSpan), (span) => {
              parents.push(Option.isSome(span) && span.value._tag === "Span" ? span.value.name : undefined)
              return event
            })
        )
      const store = Tracing.eventStore({ ...backend.eventStore, subscribe: inner })
      // Effect's default tracer: no strata.subscribe span is made.
      yield* Stream.runCollect(Stream.take(store.subscribe("spans-6"), 1)).pipe(Effect.withSpan("caller"))
      // A tracer installed: the pulls run under strata.subscribe.
      const { tracer } = recording()
      yield* Stream.runCollect(Stream.take(store.subscribe("spans-6"), 1)).pipe(
        Effect.withSpan("caller"),
        Effect.withTracer(tracer)
      )
      assert.deepStrictEqual(parents, ["caller", "strata.subscribe"])
    }))
})
