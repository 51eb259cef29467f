import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, MemoryStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"

describe("Tracing", () => {
  it.effect("every store operation runs in a strata.* span carrying backend, stream and event count", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span(options) {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      yield* Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        yield* store.append("traced-1", [Event.make("A", {}), Event.make("B", {})])
        yield* Stream.runCollect(store.read("traced-1"))
        yield* store.streamInfo("traced-1")
        yield* Effect.flip(store.append("", [Event.make("A", {})]))
      }).pipe(Effect.withTracer(tracer), Effect.provide(MemoryStore.layer()))
      const byName = (name: string) => spans.filter((span) => span.name === name)
      const [append, failed] = byName("strata.append")
      assert.strictEqual(append.attributes.get("strata.backend"), "memory")
      assert.strictEqual(append.attributes.get("strata.stream"), "traced-1")
      assert.strictEqual(append.attributes.get("strata.event.count"), 2)
      assert.strictEqual(append.status._tag, "Ended")
      assert.strictEqual(byName("strata.read").length, 1)
      assert.strictEqual(byName("strata.streamInfo").length, 1)
      // A failed operation still gets its span, ended with the failure.
      assert.strictEqual(failed.status._tag, "Ended")
      assert.isTrue(failed.status._tag === "Ended" && failed.status.exit._tag === "Failure")
    }))
})
