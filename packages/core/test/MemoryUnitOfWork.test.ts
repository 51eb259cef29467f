// What only the memory backend has: the writer lock and the read horizon behind its units of work.
// (The unit-of-work contract itself is pinned by the conformance suite on every backend.)
import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Event, EventStore, MemoryStore, UnitOfWork } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const Note = DocumentStore.collection("notes", Schema.Struct({ text: Schema.String }))

describe("MemoryStore units of work", () => {
  it.live("readers outside an open unit see none of its events; a plain append waits for it", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const opened = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Readers run in a fiber forked outside the unit (a fiber forked inside it would be part of it).
      const outsider = yield* Effect.forkChild(Effect.gen(function*() {
        yield* Deferred.await(opened)
        const all = yield* Stream.runCollect(store.readAll())
        const one = yield* Stream.runCollect(store.read("a-1"))
        const info = yield* store.streamInfo("a-1")
        const appended = yield* Effect.forkChild(store.append("b-1", [Event.make("Later", {})]))
        yield* Deferred.succeed(release, undefined)
        const later = yield* Fiber.join(appended)
        return { all: all.length, one: one.length, last: info.lastVersion, later: later.position }
      }))
      yield* UnitOfWork.transaction(Effect.gen(function*() {
        yield* store.append("a-1", [Event.make("First", {}), Event.make("Second", {})])
        yield* Deferred.succeed(opened, undefined)
        yield* Deferred.await(release)
        yield* Effect.sleep("20 millis")
        // The outsider's append is still waiting for the writer lock.
        assert.deepStrictEqual((yield* Stream.runCollect(store.readAll())).map((e) => e.stream), ["a-1", "a-1"])
      }))
      const seen = yield* Fiber.join(outsider)
      assert.deepStrictEqual(seen, { all: 0, one: 0, last: undefined, later: 3n })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a rolled-back unit restores checkpoints, deletes and documents, and positions are reused", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const docs = yield* DocumentStore.DocumentStore
      yield* store.append("a-1", [Event.make("Kept", {})])
      yield* store.saveCheckpoint("c", 1n)
      yield* docs.put(Note, "n", { text: "kept" })
      const exit = yield* Effect.exit(UnitOfWork.transaction(Effect.gen(function*() {
        yield* store.append("a-2", [Event.make("Gone", {})])
        yield* store.saveCheckpoint("c", 2n)
        yield* store.deleteStream("a-1")
        yield* docs.delete(Note, "n")
        return yield* Effect.fail("abort")
      })))
      assert.strictEqual(exit._tag, "Failure")
      assert.deepStrictEqual(yield* store.loadCheckpoint("c"), Option.some(1n))
      assert.strictEqual((yield* store.streamInfo("a-1")).status, "active")
      assert.deepStrictEqual(Option.map(yield* docs.get(Note, "n"), (d) => d.value.text), Option.some("kept"))
      const next = yield* store.append("a-3", [Event.make("Next", {})])
      assert.strictEqual(next.position, 2n, "the rolled-back event's position is free again")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("a fiber forked inside a unit that writes after the unit ended writes as a unit of its own", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const later = yield* Deferred.make<void>()
      const fiber = yield* UnitOfWork.transaction(Effect.gen(function*() {
        yield* store.append("a-1", [Event.make("Inside", {})])
        return yield* Effect.forkDetach(
          Effect.andThen(Deferred.await(later), store.append("a-1", [Event.make("After", {})]))
        )
      }))
      yield* Deferred.succeed(later, undefined)
      yield* Fiber.join(fiber)
      const events = yield* Stream.runCollect(store.read("a-1"))
      assert.deepStrictEqual(events.map((event) => event.type), ["Inside", "After"], "both are visible")
    }).pipe(Effect.provide(MemoryStore.layer())))
})
