/**
 * Units of work (`UnitOfWork.transaction`): appends to several streams, each with its expected
 * version, and document writes commit together or not at all; subscribers never see the events of a
 * unit that rolled back, and see a committed unit's events only after its commit; a nested unit is a
 * savepoint. Backends without interactive transactions (D1, KurrentDB) fail with `Unsupported`
 * without running the effect.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore, Event, EventStore, ExpectedVersion, UnitOfWork } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { collect, events, failsWith, names, readAll, readStream, show, uuid } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

const Note = Schema.Struct({ text: Schema.String })

/**
 * Registers the unit-of-work tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const unitOfWorkSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout, pollInterval, unitsOfWork } = resolve(options)

  describe("units of work", () => {
    it.effect("commit writes appends to several streams (each with its expected version) and a document together", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const notes = DocumentStore.collection(n.collection(), Note)
        yield* store.append(n.stream("a"), events(n.type("E"), 1))
        const result = yield* UnitOfWork.commit({
          appends: [
            { stream: n.stream("a"), events: events(n.type("E"), 1, 1), expected: ExpectedVersion.exact(0n) },
            { stream: n.stream("b"), events: events(n.type("E"), 2), expected: ExpectedVersion.noStream }
          ],
          documents: [{ collection: notes, id: "n", value: { text: "with both" }, expected: "missing" }]
        })
        assert.deepStrictEqual(result.appended.map((r) => r.nextExpectedVersion), [1n, 1n])
        assert.deepStrictEqual(result.documents, [1n])
        assert.strictEqual((yield* readStream(n.stream("a"))).length, 2)
        assert.strictEqual((yield* readStream(n.stream("b"))).length, 2)
        assert.isTrue(Option.isSome(yield* docs.get(notes, "n")))
      }))

    it.effect("commit with one conflicting part writes nothing, document included", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const notes = DocumentStore.collection(n.collection(), Note)
        yield* store.append(n.stream("b"), events(n.type("E"), 1))
        yield* failsWith("WrongExpectedVersion")(UnitOfWork.commit({
          appends: [
            { stream: n.stream("a"), events: events(n.type("E"), 1), expected: ExpectedVersion.noStream },
            { stream: n.stream("b"), events: events(n.type("E"), 1), expected: ExpectedVersion.noStream }
          ],
          documents: [{ collection: notes, id: "n", value: { text: "no" } }]
        }))
        assert.deepStrictEqual(yield* readStream(n.stream("a")), [])
        assert.strictEqual((yield* readStream(n.stream("b"))).length, 1)
        assert.isTrue(Option.isNone(yield* docs.get(notes, "n")))
        // A document conflict undoes the appends.
        yield* docs.put(notes, "taken", { text: "first" })
        yield* failsWith("DocumentConflict")(UnitOfWork.commit({
          appends: [{ stream: n.stream("a"), events: events(n.type("E"), 1) }],
          documents: [{ collection: notes, id: "taken", value: { text: "second" }, expected: "missing" }]
        }))
        assert.deepStrictEqual(yield* readStream(n.stream("a")), [])
      }))

    it.effect(
      unitsOfWork
        ? "commit writes several documents with the appends"
        : "commit with more than one document fails with Unsupported and writes nothing",
      () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const notes = DocumentStore.collection(n.collection(), Note)
          const batch = UnitOfWork.commit({
            appends: [{ stream: n.stream(), events: events(n.type("E"), 1) }],
            documents: [
              { collection: notes, id: "one", value: { text: "1" } },
              { collection: notes, id: "two", value: { text: "2" } }
            ]
          })
          if (unitsOfWork) {
            assert.deepStrictEqual((yield* batch).documents, [1n, 1n])
            assert.strictEqual(yield* docs.count(notes), 2)
          } else {
            const error = yield* failsWith("Unsupported")(batch)
            assert.match(error.detail, /at most one document/)
            assert.strictEqual(yield* docs.count(notes), 0)
            assert.deepStrictEqual(yield* readStream(n.stream()), [])
          }
        })
    )

    if (!unitsOfWork) {
      it.effect("transaction fails with Unsupported, naming the backend, without running the effect", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          let ran = false
          const error = yield* failsWith("Unsupported")(UnitOfWork.transaction(Effect.gen(function*() {
            ran = true
            yield* store.append(n.stream(), events(n.type("E"), 1))
          })))
          assert.isFalse(ran, "the effect did not run")
          assert.strictEqual(error.backend, store.backend)
          assert.deepStrictEqual(yield* readStream(n.stream()), [])
        }))
      return
    }

    it.effect("appends to several streams (each with its expected version) and a document commit together", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const notes = DocumentStore.collection(n.collection(), Note)
        yield* store.append(n.stream("a"), events(n.type("E"), 2))
        const [a, b, put] = yield* UnitOfWork.transaction(Effect.all([
          store.append(n.stream("a"), events(n.type("E"), 1, 2), { expected: ExpectedVersion.exact(1n) }),
          store.append(n.stream("b"), events(n.type("E"), 3), { expected: ExpectedVersion.noStream }),
          docs.put(notes, "n1", { text: "both" }, { expected: "missing" })
        ]))
        assert.strictEqual(a.nextExpectedVersion, 2n)
        assert.strictEqual(b.nextExpectedVersion, 2n)
        assert.strictEqual(put.version, 1n)
        assert.strictEqual((yield* readStream(n.stream("a"))).length, 3)
        assert.strictEqual((yield* readStream(n.stream("b"))).length, 3)
        assert.deepStrictEqual(Option.map(yield* docs.get(notes, "n1"), (d) => d.value), Option.some({ text: "both" }))
      }))

    it.effect("a unit that fails rolls back every append and document write, and subscribers never see its events", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const notes = DocumentStore.collection(n.collection(), Note)
        yield* docs.put(notes, "kept", { text: "before" })
        const { events: live } = yield* EventStore.establishAll({ from: "end", filter: { categories: [n.category] } })
        const collector = yield* collect(live, deliveryTimeout)
        const exit = yield* Effect.exit(UnitOfWork.transaction(Effect.gen(function*() {
          yield* store.append(n.stream("a"), events(n.type("Gone"), 2))
          yield* store.append(n.stream("b"), events(n.type("Gone"), 1))
          yield* docs.put(notes, "kept", { text: "overwritten" })
          yield* docs.put(notes, "new", { text: "created" })
          yield* docs.delete(notes, "kept")
          return yield* Effect.fail("abort")
        })))
        assert.deepStrictEqual(exit._tag, "Failure")
        assert.deepStrictEqual(yield* readStream(n.stream("a")), [])
        assert.deepStrictEqual(yield* readStream(n.stream("b")), [])
        assert.strictEqual((yield* store.streamInfo(n.stream("a"))).lastVersion, undefined)
        assert.deepStrictEqual(
          Option.map(yield* docs.get(notes, "kept"), (d) => `${d.version}:${d.value.text}`),
          Option.some("1:before")
        )
        assert.isTrue(Option.isNone(yield* docs.get(notes, "new")))
        // The streams are writable as if nothing happened, and the subscriber's first delivery is this.
        yield* store.append(n.stream("a"), events(n.type("Kept"), 1), { expected: ExpectedVersion.noStream })
        const [first] = yield* collector.take(1)
        assert.strictEqual(first.type, n.type("Kept"), `delivered: ${show(first)}`)
        assert.strictEqual(first.version, 0n)
        yield* Effect.sleep(pollInterval)
        assert.deepStrictEqual(yield* collector.drain, [])
        assert.deepStrictEqual((yield* readAll({ filter: { categories: [n.category] } })).map((e) => e.type), [
          n.type("Kept")
        ])
      }))

    // Stream reads, streamInfo and documents. Not global reads: PostgreSQL's horizon stops them below
    // every append still in flight, the unit's own included.
    it.effect("inside a unit, stream reads and documents see the unit's own writes", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const notes = DocumentStore.collection(n.collection(), Note)
        const seen = yield* UnitOfWork.transaction(Effect.gen(function*() {
          yield* store.append(n.stream(), events(n.type("E"), 2))
          yield* docs.put(notes, "n", { text: "inside" })
          return {
            read: (yield* readStream(n.stream())).length,
            last: (yield* store.streamInfo(n.stream())).lastVersion,
            document: Option.map(yield* docs.get(notes, "n"), (d) => d.value.text)
          }
        }))
        assert.deepStrictEqual(seen, { read: 2, last: 1n, document: Option.some("inside") })
      }))

    it.effect("an append that fails inside a unit, caught, leaves the unit usable", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const notes = DocumentStore.collection(n.collection(), Note)
        const taken = uuid()
        yield* store.append(n.stream("other"), [{ id: taken, type: n.type("E"), data: {} }])
        yield* UnitOfWork.transaction(Effect.gen(function*() {
          yield* failsWith("DuplicateEvent")(store.append(n.stream(), [{ id: taken, type: n.type("E"), data: {} }]))
          yield* failsWith("WrongExpectedVersion")(
            store.append(n.stream(), events(n.type("E"), 1), { expected: ExpectedVersion.exact(5n) })
          )
          yield* store.append(n.stream(), events(n.type("E"), 1), { expected: ExpectedVersion.noStream })
          yield* docs.put(notes, "after", { text: "still usable" })
        }))
        assert.strictEqual((yield* readStream(n.stream())).length, 1)
        assert.isTrue(Option.isSome(yield* docs.get(notes, "after")))
      }))

    it.effect("a conflict on the second stream rolls back the first stream's append", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("b"), events(n.type("E"), 1))
        const error = yield* failsWith("WrongExpectedVersion")(UnitOfWork.transaction(Effect.gen(function*() {
          yield* store.append(n.stream("a"), events(n.type("E"), 1), { expected: ExpectedVersion.noStream })
          yield* store.append(n.stream("b"), events(n.type("E"), 1), { expected: ExpectedVersion.noStream })
        })))
        assert.strictEqual(error.stream, n.stream("b"))
        assert.deepStrictEqual(yield* readStream(n.stream("a")), [])
        assert.strictEqual((yield* readStream(n.stream("b"))).length, 1)
      }))

    it.effect("subscribers see a unit's events only after it commits", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const { events: live } = yield* EventStore.establishAll({ from: "end", filter: { categories: [n.category] } })
        const collector = yield* collect(live, deliveryTimeout)
        yield* UnitOfWork.transaction(Effect.gen(function*() {
          yield* store.append(n.stream(), events(n.type("E"), 2))
          // Longer than the backend's poll: a subscriber that could see uncommitted events would have.
          yield* Effect.sleep(pollInterval)
          yield* Effect.sleep("100 millis")
          assert.deepStrictEqual(yield* collector.drain, [], "nothing was delivered before the commit")
        }))
        const delivered = yield* collector.take(2)
        assert.deepStrictEqual(delivered.map((event) => event.version), [0n, 1n])
      }))

    it.effect("a nested unit is a savepoint: its failure, caught, undoes only its own writes", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const notes = DocumentStore.collection(n.collection(), Note)
        yield* UnitOfWork.transaction(Effect.gen(function*() {
          yield* store.append(n.stream("outer"), events(n.type("E"), 1))
          yield* docs.put(notes, "outer", { text: "kept" })
          yield* UnitOfWork.transaction(Effect.gen(function*() {
            yield* store.append(n.stream("inner"), events(n.type("E"), 1))
            yield* docs.put(notes, "outer", { text: "inner overwrite" })
            return yield* Effect.fail("inner abort")
          })).pipe(Effect.ignore)
          yield* store.append(n.stream("outer"), events(n.type("E"), 1, 1), { expected: ExpectedVersion.exact(0n) })
        }))
        assert.strictEqual((yield* readStream(n.stream("outer"))).length, 2)
        assert.deepStrictEqual(yield* readStream(n.stream("inner")), [])
        assert.deepStrictEqual(
          Option.map(yield* docs.get(notes, "outer"), (d) => d.value),
          Option.some({ text: "kept" })
        )
      }))

    // Issue 22: an idle unit holds back every reader (PostgreSQL's horizon, memory's writer lock and
    // read horizon, SQLite's write transaction) until it ends; UnitOfWork.Timeout bounds it.
    it.effect("a unit that idles past UnitOfWork.Timeout fails with StoreUnavailable, writes nothing, and subscribers get appends made meanwhile", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const { events: live } = yield* EventStore.establishAll({ from: "end", filter: { categories: [n.category] } })
        const collector = yield* collect(live, deliveryTimeout)
        const appended = yield* Deferred.make<void>()
        const started = Date.now()
        const unit = yield* Effect.forkChild(
          UnitOfWork.transaction(Effect.gen(function*() {
            yield* store.append(n.stream("held"), events(n.type("Held"), 1))
            yield* Deferred.succeed(appended, undefined)
            return yield* Effect.never // a slow call that never answers
          })).pipe(Effect.provideService(UnitOfWork.Timeout, "400 millis"), Effect.exit)
        )
        yield* Deferred.await(appended)
        // Another writer while the unit idles: on memory and SQLite it waits for the unit, on
        // PostgreSQL it commits but readers stop below the unit's announced append.
        const other = yield* Effect.forkChild(store.append(n.stream("other"), events(n.type("Other"), 1)))
        const ended = yield* Fiber.join(unit).pipe(Effect.timeoutOption("10 seconds"))
        assert.isTrue(Option.isSome(ended), "the idle unit ended by itself (bounded by UnitOfWork.Timeout)")
        const exit = Option.getOrThrow(ended)
        const held = Date.now() - started
        assert.isTrue(held >= 400, `the unit ran its limit: ${held} ms`)
        assert.strictEqual(exit._tag, "Failure")
        const error = yield* failsWith("StoreUnavailable")(exit)
        assert.strictEqual(error.operation, "UnitOfWork.transaction")
        assert.match(error.reason, /keep units of work short, or raise UnitOfWork.Timeout/)
        assert.deepStrictEqual(yield* readStream(n.stream("held")), [])
        yield* Fiber.join(other)
        const [first] = yield* collector.take(1)
        assert.strictEqual(first.type, n.type("Other"), `delivered: ${show(first)}`)
        yield* Effect.sleep(pollInterval)
        assert.deepStrictEqual(yield* collector.drain, [])
        // The held stream is writable as if nothing happened.
        yield* store.append(n.stream("held"), events(n.type("Held"), 1), { expected: ExpectedVersion.noStream })
      }))

    it.effect("an interrupted unit writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const fiber = yield* Effect.forkChild(UnitOfWork.transaction(Effect.gen(function*() {
          yield* store.append(n.stream(), [Event.make(n.type("E"), { i: 0 })])
          return yield* Effect.never
        })))
        for (let i = 0; i < 200; i++) yield* Effect.yieldNow
        yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* readStream(n.stream()), [])
        yield* store.append(n.stream(), events(n.type("E"), 1), { expected: ExpectedVersion.noStream })
      }))
  })
}
