/**
 * Appends: versions and positions, idempotent retries, duplicate ids, atomic multi-stream appends.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { EventStore, ExpectedVersion } from "@strata/core"
import * as Effect from "effect/Effect"
import { assertIncreasing, events, failsWith, names, readAll, readStream, uuid, versions } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the append tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const appendSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { rejectsReusedEventIds, supportsAppendMany } = resolve(options)
  // Registered as skipped (visibly) where the backend's capabilities say it does not refuse reused ids
  // (`rejectsReusedEventIds: false`): KurrentDB checks ids per stream and by position, so an id reused in
  // another stream, or out of order, is accepted there (packages/kurrentdb/README.md has the figures).
  const ids = rejectsReusedEventIds ? it : { effect: it.effect.skip }

  describe("append", () => {
    it.effect("append of n events to a new stream returns nextExpectedVersion n-1", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const result = yield* store.append(stream, events(n.type("E"), 4))
        assert.strictEqual(result.stream, stream)
        assert.strictEqual(result.nextExpectedVersion, 3n)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), versions(4))
      }))

    it.effect("versions count from 0 and stay contiguous across appends", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const first = yield* store.append(stream, events(n.type("E"), 1))
        const second = yield* store.append(stream, events(n.type("E"), 3, 1))
        const third = yield* store.append(stream, events(n.type("E"), 2, 4))
        assert.deepStrictEqual([first, second, third].map((r) => r.nextExpectedVersion), [0n, 3n, 5n])
        const read = yield* readStream(stream)
        assert.deepStrictEqual(read.map((e) => e.version), versions(6))
        assert.deepStrictEqual(read.map((e) => e.data), versions(6).map((v) => ({ i: Number(v) })))
      }))

    it.effect("the result's position is the position of the last event written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const result = yield* store.append(stream, events(n.type("E"), 3))
        const read = yield* readStream(stream)
        assert.strictEqual(result.position, read[2].position)
        assertIncreasing(read.map((e) => e.position), "positions within one append")
      }))

    it.effect("positions strictly increase across appends to different streams, in append order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const results = []
        for (let i = 0; i < 6; i++) {
          results.push(yield* store.append(n.stream(`s${i % 3}`), events(n.type("E"), 1, i)))
        }
        assertIncreasing(results.map((r) => r.position), "append result positions")
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.deepStrictEqual(global.map((e) => e.position), results.map((r) => r.position))
        assert.deepStrictEqual(global.map((e) => e.data), versions(6).map((v) => ({ i: Number(v) })))
      }))

    it.effect("streams number their versions independently", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const a = yield* store.append(n.stream("a"), events(n.type("E"), 3))
        const b = yield* store.append(n.stream("b"), events(n.type("E"), 1))
        const a2 = yield* store.append(n.stream("a"), events(n.type("E"), 1))
        assert.deepStrictEqual([a.nextExpectedVersion, b.nextExpectedVersion, a2.nextExpectedVersion], [2n, 0n, 3n])
      }))

    it.effect("append without options does no concurrency check", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        const result = yield* store.append(stream, events(n.type("E"), 1))
        assert.strictEqual(result.nextExpectedVersion, 2n)
      }))
  })

  describe("idempotent appends and duplicate ids", () => {
    it.effect("re-appending the same event ids returns the same result and writes nothing new", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const batch = [0, 1, 2].map((i) => ({ id: uuid(), type: n.type("E"), data: { i } }))
        const first = yield* store.append(stream, batch)
        const again = yield* store.append(stream, batch)
        assert.deepStrictEqual(again, first)
        const read = yield* readStream(stream)
        assert.deepStrictEqual(read.map((e) => e.id), batch.map((e) => e.id))
      }))

    it.effect("retrying a noStream append that succeeded returns the original result, not a conflict", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const batch = [{ id: uuid(), type: n.type("E"), data: {} }]
        const first = yield* store.append(stream, batch, { expected: ExpectedVersion.noStream })
        const again = yield* store.append(stream, batch, { expected: ExpectedVersion.noStream })
        assert.deepStrictEqual(again, first)
        assert.strictEqual((yield* readStream(stream)).length, 1)
      }))

    it.effect("re-appending an earlier batch after later appends returns that batch's original result", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const batch = [0, 1].map((i) => ({ id: uuid(), type: n.type("E"), data: { i } }))
        const first = yield* store.append(stream, batch, { expected: ExpectedVersion.noStream })
        yield* store.append(stream, events(n.type("Later"), 3))
        const again = yield* store.append(stream, batch, { expected: ExpectedVersion.noStream })
        assert.deepStrictEqual(again, first)
        assert.strictEqual(again.nextExpectedVersion, 1n)
        assert.strictEqual((yield* readStream(stream)).length, 5)
      }))

    it.effect("an idempotent retry matches ids case-insensitively", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const id = uuid()
        const first = yield* store.append(stream, [{ id: id.toUpperCase(), type: n.type("E"), data: {} }])
        const again = yield* store.append(stream, [{ id, type: n.type("E"), data: {} }])
        assert.deepStrictEqual(again, first)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.id), [id])
      }))

    it.effect("a batch of a stored id followed by a new one fails with DuplicateEvent and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const stored = { id: uuid(), type: n.type("E"), data: {} }
        yield* store.append(stream, [stored])
        const fresh = { id: uuid(), type: n.type("E"), data: {} }
        const error = yield* failsWith("DuplicateEvent")(store.append(stream, [stored, fresh]))
        assert.strictEqual(error.stream, stream)
        assert.strictEqual(error.eventId, stored.id)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.id), [stored.id])
      }))

    ids.effect(
      "a batch of a new id followed by a stored one fails with DuplicateEvent naming the stored id",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const stream = n.stream()
          const stored = { id: uuid(), type: n.type("E"), data: {} }
          yield* store.append(stream, [stored])
          const fresh = { id: uuid(), type: n.type("E"), data: {} }
          const error = yield* failsWith("DuplicateEvent")(store.append(stream, [fresh, stored]))
          assert.strictEqual(error.eventId, stored.id)
          assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.id), [stored.id])
        })
    )

    ids.effect(
      "reusing an event id in another stream fails with DuplicateEvent and writes nothing there",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const event = { id: uuid(), type: n.type("E"), data: {} }
          yield* store.append(n.stream("a"), [event])
          const error = yield* failsWith("DuplicateEvent")(store.append(n.stream("b"), [event]))
          assert.strictEqual(error.stream, n.stream("b"))
          assert.strictEqual(error.eventId, event.id)
          assert.strictEqual((yield* store.streamInfo(n.stream("b"))).status, "missing")
          assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 1)
        })
    )

    ids.effect("the same ids in a different order fail with DuplicateEvent", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const batch = [0, 1].map((i) => ({ id: uuid(), type: n.type("E"), data: { i } }))
        yield* store.append(stream, batch)
        yield* failsWith("DuplicateEvent")(store.append(stream, [batch[1], batch[0]]))
        assert.strictEqual((yield* readStream(stream)).length, 2)
      }))

    // A stored id beside new ones is no replay, whatever `expected` says: the ids decide before the
    // version check (core's Replay rule), so a conflicting append fails with DuplicateEvent too.
    it.effect("a conflicting append of a stored id followed by a new one fails with DuplicateEvent", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const stored = { id: uuid(), type: n.type("E"), data: {} }
        yield* store.append(stream, [stored])
        yield* store.append(stream, events(n.type("Later"), 1))
        const fresh = { id: uuid(), type: n.type("E"), data: {} }
        for (const expected of [ExpectedVersion.noStream, ExpectedVersion.exact(0), ExpectedVersion.exact(5)]) {
          const error = yield* failsWith("DuplicateEvent")(store.append(stream, [stored, fresh], { expected }))
          assert.strictEqual(error.stream, stream)
          assert.strictEqual(error.eventId, stored.id)
        }
        assert.strictEqual((yield* readStream(stream)).length, 2)
      }))

    ids.effect(
      "a conflicting append of a new id followed by a stored one fails with DuplicateEvent",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const stream = n.stream()
          const stored = { id: uuid(), type: n.type("E"), data: {} }
          yield* store.append(stream, [stored])
          const fresh = { id: uuid(), type: n.type("E"), data: {} }
          for (const expected of [ExpectedVersion.noStream, ExpectedVersion.exact(3)]) {
            const error = yield* failsWith("DuplicateEvent")(store.append(stream, [fresh, stored], { expected }))
            assert.strictEqual(error.stream, stream)
            assert.strictEqual(error.eventId, stored.id)
          }
          assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.id), [stored.id])
        })
    )

    ids.effect(
      "a conflicting append reusing another stream's id beside a new one fails with DuplicateEvent",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const stored = { id: uuid(), type: n.type("E"), data: {} }
          yield* store.append(n.stream("a"), [stored])
          yield* store.append(n.stream("b"), events(n.type("E"), 1))
          const fresh = { id: uuid(), type: n.type("E"), data: {} }
          for (const batch of [[stored, fresh], [fresh, stored]]) {
            const error = yield* failsWith("DuplicateEvent")(
              store.append(n.stream("b"), batch, { expected: ExpectedVersion.noStream })
            )
            assert.strictEqual(error.stream, n.stream("b"))
            assert.strictEqual(error.eventId, stored.id)
          }
          assert.strictEqual((yield* readStream(n.stream("b"))).length, 1)
        })
    )

    it.effect("a duplicate id inside one batch fails with InvalidEvent InvalidId at the second index", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const id = uuid()
        const error = yield* failsWith("InvalidEvent")(
          store.append(stream, [
            { type: n.type("E"), data: {} },
            { id, type: n.type("E"), data: {} },
            { id, type: n.type("E"), data: {} }
          ])
        )
        assert.strictEqual(error.reason, "InvalidId")
        assert.strictEqual(error.index, 2)
        assert.strictEqual(error.stream, stream)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("re-appending stored ids to a stream tombstoned since fails with StreamDeleted", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const batch = [{ id: uuid(), type: n.type("E"), data: {} }]
        yield* store.append(stream, batch)
        yield* store.tombstoneStream(stream)
        const error = yield* failsWith("StreamDeleted")(store.append(stream, batch))
        assert.isTrue(error.tombstoned)
      }))
  })

  describe("appendMany", () => {
    if (!supportsAppendMany) {
      it.effect("appendMany fails with Unsupported and writes nothing", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const error = yield* failsWith("Unsupported")(store.appendMany([
            { stream: n.stream("a"), events: events(n.type("E"), 1) },
            { stream: n.stream("b"), events: events(n.type("E"), 1) }
          ]))
          assert.strictEqual(error.operation, "appendMany")
          assert.strictEqual(error.backend, store.backend)
          assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 0)
        }))
      return
    }

    it.effect("appendMany writes every part and returns one result per request, in request order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("b"), events(n.type("E"), 2))
        const results = yield* store.appendMany([
          { stream: n.stream("a"), events: events(n.type("E"), 3), expected: ExpectedVersion.noStream },
          { stream: n.stream("b"), events: events(n.type("E"), 1), expected: ExpectedVersion.exact(1) },
          { stream: n.stream("c"), events: events(n.type("E"), 1) }
        ])
        assert.deepStrictEqual(results.map((r) => r.stream), [n.stream("a"), n.stream("b"), n.stream("c")])
        assert.deepStrictEqual(results.map((r) => r.nextExpectedVersion), [2n, 2n, 0n])
        for (const result of results) {
          const read = yield* readStream(result.stream)
          assert.strictEqual(read[read.length - 1].position, result.position)
        }
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.strictEqual(global.length, 7)
        assertIncreasing(global.map((e) => e.position), "positions")
      }))

    it.effect("appendMany with one conflicting part writes nothing anywhere", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("b"), events(n.type("E"), 1))
        const error = yield* failsWith("WrongExpectedVersion")(store.appendMany([
          { stream: n.stream("a"), events: events(n.type("New"), 2), expected: ExpectedVersion.noStream },
          { stream: n.stream("b"), events: events(n.type("New"), 1), expected: ExpectedVersion.noStream },
          { stream: n.stream("c"), events: events(n.type("New"), 1) }
        ]))
        assert.strictEqual(error.stream, n.stream("b"))
        assert.strictEqual(error.actual, 0n)
        assert.strictEqual((yield* store.streamInfo(n.stream("a"))).status, "missing")
        assert.strictEqual((yield* store.streamInfo(n.stream("c"))).status, "missing")
        assert.strictEqual((yield* store.streamInfo(n.stream("b"))).lastVersion, 0n)
        assert.strictEqual((yield* readAll({ filter: { types: [n.type("New")] } })).length, 0)
      }))

    // The ids are judged across every part before any version check: a stored id beside new ones in a
    // later part is a DuplicateEvent even when an earlier part also conflicts.
    it.effect("appendMany with a conflicting part and a later part reusing a stored id fails with DuplicateEvent", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stored = { id: uuid(), type: n.type("E"), data: {} }
        yield* store.append(n.stream("b"), [stored])
        const fresh = { id: uuid(), type: n.type("New"), data: {} }
        const error = yield* failsWith("DuplicateEvent")(store.appendMany([
          { stream: n.stream("a"), events: events(n.type("New"), 1), expected: ExpectedVersion.exact(4) },
          { stream: n.stream("b"), events: [stored, fresh], expected: ExpectedVersion.noStream }
        ]))
        assert.strictEqual(error.stream, n.stream("b"))
        assert.strictEqual(error.eventId, stored.id)
        assert.strictEqual((yield* store.streamInfo(n.stream("a"))).status, "missing")
        assert.strictEqual((yield* readAll({ filter: { types: [n.type("New")] } })).length, 0)
      }))

    it.effect("appendMany naming the same stream twice fails with InvalidArgument and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const error = yield* failsWith("InvalidArgument")(store.appendMany([
          { stream: n.stream("a"), events: events(n.type("E"), 1) },
          { stream: n.stream("b"), events: events(n.type("E"), 1) },
          { stream: n.stream("a"), events: events(n.type("E"), 1) }
        ]))
        assert.strictEqual(error.operation, "appendMany")
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 0)
      }))

    it.effect("appendMany with no requests fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const error = yield* failsWith("InvalidArgument")(store.appendMany([]))
        assert.strictEqual(error.operation, "appendMany")
      }))

    it.effect("appendMany with a tombstoned part fails with StreamDeleted and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.tombstoneStream(n.stream("b"))
        const error = yield* failsWith("StreamDeleted")(store.appendMany([
          { stream: n.stream("a"), events: events(n.type("E"), 1) },
          { stream: n.stream("b"), events: events(n.type("E"), 1) }
        ]))
        assert.strictEqual(error.stream, n.stream("b"))
        assert.isTrue(error.tombstoned)
        assert.strictEqual((yield* store.streamInfo(n.stream("a"))).status, "missing")
      }))

    // A replayed part is answered, not written; a part to a tombstoned stream fails the whole call,
    // whether it carries new events or replays ids stored there before the tombstone, and in either
    // order: StreamDeleted (as for a single append), never DuplicateEvent (no id is misused), also
    // when every part is a replay.
    const tombstoneCases = [
      ["replay first", "new events"],
      ["replay first", "its own stored ids"],
      ["tombstoned first", "new events"],
      ["tombstoned first", "its own stored ids"]
    ] as const
    for (const [order, part] of tombstoneCases) {
      it.effect(
        `appendMany with a replayed part and a tombstoned part (${part}) fails with StreamDeleted (${order})`,
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const n = names()
            const storedA = [{ id: uuid(), type: n.type("E"), data: {} }]
            const storedB = [{ id: uuid(), type: n.type("E"), data: {} }]
            yield* store.append(n.stream("a"), storedA, { expected: ExpectedVersion.noStream })
            yield* store.append(n.stream("b"), storedB, { expected: ExpectedVersion.noStream })
            yield* store.tombstoneStream(n.stream("b"))
            const replay = { stream: n.stream("a"), events: storedA, expected: ExpectedVersion.noStream }
            const tombstoned = {
              stream: n.stream("b"),
              events: part === "new events" ? events(n.type("New"), 1) : storedB
            }
            const error = yield* failsWith("StreamDeleted")(
              store.appendMany(order === "replay first" ? [replay, tombstoned] : [tombstoned, replay])
            )
            assert.strictEqual(error.stream, n.stream("b"))
            assert.isTrue(error.tombstoned)
            assert.strictEqual((yield* store.streamInfo(n.stream("a"))).lastVersion, 0n)
            assert.strictEqual((yield* readAll({ filter: { types: [n.type("New")] } })).length, 0)
          })
      )
    }

    it.effect("appendMany with an invalid event in one part fails with InvalidEvent and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const error = yield* failsWith("InvalidEvent")(store.appendMany([
          { stream: n.stream("a"), events: events(n.type("E"), 1) },
          { stream: n.stream("b"), events: [{ type: n.type("E"), data: { n: 1n } }] }
        ]))
        assert.strictEqual(error.stream, n.stream("b"))
        assert.strictEqual(error.reason, "NotJson")
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 0)
      }))

    it.effect("appendMany with an empty part fails with InvalidEvent Empty and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const error = yield* failsWith("InvalidEvent")(store.appendMany([
          { stream: n.stream("a"), events: events(n.type("E"), 1) },
          { stream: n.stream("b"), events: [] }
        ]))
        assert.strictEqual(error.reason, "Empty")
        assert.strictEqual(error.stream, n.stream("b"))
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 0)
      }))

    it.effect("appendMany with an invalid stream name in one part fails with InvalidStreamName and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const error = yield* failsWith("InvalidStreamName")(store.appendMany([
          { stream: n.stream("a"), events: events(n.type("E"), 1) },
          { stream: "$system", events: events(n.type("E"), 1) }
        ]))
        assert.strictEqual(error.stream, "$system")
        assert.strictEqual((yield* readAll({ filter: { types: [n.type("E")] } })).length, 0)
      }))

    ids.effect(
      "appendMany reusing another stream's stored event id fails with DuplicateEvent and writes nothing",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const stored = { id: uuid(), type: n.type("E"), data: {} }
          yield* store.append(n.stream("x"), [stored])
          const error = yield* failsWith("DuplicateEvent")(store.appendMany([
            { stream: n.stream("a"), events: events(n.type("E"), 1) },
            { stream: n.stream("b"), events: [stored] }
          ]))
          assert.strictEqual(error.eventId, stored.id)
          assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 1)
        })
    )

    it.effect("appendMany with one event id in two parts fails with InvalidArgument and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const event = { id: uuid(), type: n.type("E"), data: {} }
        yield* failsWith("InvalidArgument")(store.appendMany([
          { stream: n.stream("a"), events: [event] },
          { stream: n.stream("b"), events: [event] }
        ]))
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 0)
      }))

    it.effect("retrying an appendMany with the same ids returns the same results and writes nothing new", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const requests = [
          { stream: n.stream("a"), events: [{ id: uuid(), type: n.type("E"), data: {} }] },
          { stream: n.stream("b"), events: [{ id: uuid(), type: n.type("E"), data: {} }] }
        ]
        const first = yield* store.appendMany(requests)
        const again = yield* store.appendMany(requests)
        assert.deepStrictEqual(again, first)
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 2)
      }))
  })
}
