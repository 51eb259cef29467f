import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, EventStore, ExpectedVersion, MemoryStore, Retry, StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

const unavailable = (operation: string) => new StoreError.StoreUnavailable({ operation, reason: "ConnectionError" })

const finalErrors = [
  new StoreError.WrongExpectedVersion({ stream: "s", expected: "no stream", actual: 0n }),
  new StoreError.StreamDeleted({ stream: "s", tombstoned: true }),
  new StoreError.DuplicateEvent({ stream: "s", eventId: "00000000-0000-7000-8000-000000000000" }),
  new StoreError.InvalidEvent({ stream: "s", reason: "NotJson", detail: "x" }),
  new StoreError.InvalidArgument({ operation: "append", detail: "x" })
] as const

/** A memory store whose append and subscribeAll fail with `error` (each call counted) `failures` times. */
const failing = (error: unknown, failures = Number.POSITIVE_INFINITY) =>
  Effect.gen(function*() {
    const { eventStore } = yield* MemoryStore.make()
    const calls = { append: 0, subscribeAll: 0 }
    const store: EventStore.EventStoreShape = {
      ...eventStore,
      append: (stream, events, options) =>
        Effect.suspend(() =>
          calls.append++ < failures ? Effect.fail(error as never) : eventStore.append(stream, events, options)
        ),
      subscribeAll: (options) =>
        Stream.suspend(() =>
          calls.subscribeAll++ < failures ? Stream.fail(error as never) : eventStore.subscribeAll(options)
        )
    }
    return { calls, store, inner: eventStore }
  })

/** Collects what is logged while `effect` runs. */
const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return effect.pipe(
    Effect.provide(Logger.layer([logger])),
    Effect.map((result) => ({ result, lines }))
  )
}

/**
 * A memory store whose append, subscribeAll, document get and document put fail with the next
 * error of their script on each call (counted), then behave normally once it runs out.
 */
const scripted = (script: {
  readonly append?: ReadonlyArray<unknown>
  readonly subscribeAll?: ReadonlyArray<unknown>
  readonly get?: ReadonlyArray<unknown>
  readonly put?: ReadonlyArray<unknown>
}) =>
  Effect.gen(function*() {
    const { documentStore, eventStore } = yield* MemoryStore.make()
    const calls = { append: 0, subscribeAll: 0, get: 0, put: 0 }
    const next = (operation: keyof typeof calls): unknown => (script[operation] ?? [])[calls[operation]++]
    const events: EventStore.EventStoreShape = {
      ...eventStore,
      append: (stream, batch, options) =>
        Effect.suspend(() => {
          const error = next("append")
          return error === undefined ? eventStore.append(stream, batch, options) : Effect.fail(error as never)
        }),
      subscribeAll: (options) =>
        Stream.suspend(() => {
          const error = next("subscribeAll")
          return error === undefined ? eventStore.subscribeAll(options) : Stream.fail(error as never)
        })
    }
    const documents: DocumentStore.DocumentStoreShape = {
      ...documentStore,
      get: (collection, id) =>
        Effect.suspend(() => {
          const error = next("get")
          return error === undefined ? documentStore.get(collection, id) : Effect.fail(error as never)
        }),
      put: (collection, id, value, options) =>
        Effect.suspend(() => {
          const error = next("put")
          return error === undefined ? documentStore.put(collection, id, value, options) : Effect.fail(error as never)
        })
    }
    return { calls, events, documents, inner: eventStore }
  })

/** The retry warnings among captured log lines. */
const warnings = (lines: ReadonlyArray<string>) => lines.filter((line) => line.includes("failed transiently"))

/** Runs `effect` forked while the test clock moves far enough for any retry budget; its exit and logs. */
const settled = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  captureLogs(Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(effect))
    yield* TestClock.adjust("10 minutes")
    return yield* Fiber.join(fiber)
  }))

const Docs = DocumentStore.collection("docs", Schema.Unknown)

describe("Retry", () => {
  for (const error of finalErrors) {
    it.effect(`${error._tag} comes back after exactly one attempt`, () =>
      Effect.gen(function*() {
        const { calls, store } = yield* failing(error)
        const retried = Retry.withRetry(store)
        const exit = yield* Effect.exit(retried.append("s", [{ type: "E", data: {} }]))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(calls.append, 1)
        const streamExit = yield* Effect.exit(Stream.runDrain(retried.subscribeAll()))
        assert.isTrue(Exit.isFailure(streamExit))
        assert.strictEqual(calls.subscribeAll, 1)
      }))
  }

  it.effect("StoreUnavailable is retried as the schedule says: recurs(3) means four attempts, then the error", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* failing(unavailable("append"))
      const exit = yield* Effect.exit(Retry.withRetry(store, Schedule.recurs(3)).append("s", [{ type: "E", data: {} }]))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(calls.append, 4)
    }))

  it.effect("the default append budget is short: six attempts within 1.6 s, then StoreUnavailable", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* failing(unavailable("append"))
      const fiber = yield* Effect.forkChild(Effect.exit(Retry.withRetry(store).append("s", [{ type: "E", data: {} }])))
      yield* TestClock.adjust("1600 millis")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(calls.append, 6)
    }))

  it.effect("a transient append failure that clears is retried and the append lands once", () =>
    Effect.gen(function*() {
      const { calls, inner, store } = yield* failing(unavailable("append"), 2)
      const fiber = yield* Effect.forkChild(Retry.withRetry(store).append("s", [{ type: "E", data: {} }]))
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.nextExpectedVersion, 0n)
      assert.strictEqual(calls.append, 3)
      assert.strictEqual((yield* Stream.runCollect(inner.read("s"))).length, 1)
    }))

  it.effect("the default stream schedule rides out an outage of more than 30 s, with capped backoff", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* failing(unavailable("subscribeAll"))
      let ended = false
      const fiber = yield* Effect.forkChild(
        Effect.exit(Stream.runDrain(Retry.withRetry(store).subscribeAll())).pipe(
          Effect.ensuring(Effect.sync(() => (ended = true)))
        )
      )
      yield* TestClock.adjust("30 seconds")
      assert.isFalse(ended, "the subscription gave up within 30 s")
      // Capped at 5 s between attempts: 100 ms .. 3.2 s (6 waits, 6.3 s), then one every 5 s.
      const byThirty = calls.subscribeAll
      assert.isAtLeast(byThirty, 11)
      assert.isAtMost(byThirty, 13)
      yield* TestClock.adjust("2 minutes")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit), "the subscription ends with the error after its budget")
      assert.isAtMost(calls.subscribeAll, 20)
    }))

  it.effect("a subscription survives an outage, logs each retry with its reason, and resumes after the last event", () =>
    Effect.gen(function*() {
      const { eventStore } = yield* MemoryStore.make()
      let down = false
      const calls = { opened: 0 }
      const flaky: EventStore.EventStoreShape = {
        ...eventStore,
        subscribeAll: (options) =>
          Stream.suspend(() => {
            calls.opened++
            return down ? Stream.fail(unavailable("subscribeAll")) : eventStore.subscribeAll(options).pipe(
              // The connection drops after each delivery while `down` is set.
              Stream.flatMap((event) => down ? Stream.fail(unavailable("subscribeAll")) : Stream.succeed(event))
            )
          })
      }
      const retried = Retry.withRetry(flaky, { streams: Schedule.spaced("1 second") })
      yield* eventStore.append("a-1", [{ type: "E", data: 1 }, { type: "E", data: 2 }])
      const { lines, result: delivered } = yield* captureLogs(Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(retried.subscribeAll(), 4)))
        yield* TestClock.adjust("10 millis")
        down = true
        yield* eventStore.append("a-1", [{ type: "E", data: 3 }])
        yield* TestClock.adjust("3 seconds")
        down = false
        yield* eventStore.append("a-1", [{ type: "E", data: 4 }])
        yield* TestClock.adjust("2 seconds")
        return yield* Fiber.join(fiber)
      }))
      assert.deepStrictEqual(delivered.map((e) => e.data), [1, 2, 3, 4])
      assert.isAtLeast(calls.opened, 3)
      assert.isAtLeast(lines.length, 2)
      assert.isTrue(
        lines.every((line) => line.includes("subscribeAll") && line.includes("ConnectionError")),
        lines.join("\n")
      )
      assert.isTrue(lines.some((line) => line.includes("after position 2")), lines.join("\n"))
    }))

  it.effect("a backwards read resumes after a failure below the last event delivered, within its limit", () =>
    Effect.gen(function*() {
      const { eventStore } = yield* MemoryStore.make()
      yield* eventStore.append("s", Array.from({ length: 10 }, (_, i) => ({ type: "E", data: i })))
      yield* eventStore.append("other", [{ type: "E", data: "x" }])
      // Each read drops its connection after three events, the first two times it is opened.
      const opened: Array<EventStore.ReadOptions | undefined> = []
      const flaky: EventStore.EventStoreShape = {
        ...eventStore,
        read: (stream, options) =>
          Stream.suspend(() => {
            opened.push(options)
            const inner = eventStore.read(stream, options)
            return opened.length > 2 ? inner : Stream.concat(Stream.take(inner, 3), Stream.fail(unavailable("read")))
          })
      }
      const retried = Retry.withRetry(flaky, { streams: Schedule.recurs(5) })
      const versions = (options: EventStore.ReadOptions) =>
        Effect.map(Stream.runCollect(retried.read("s", options)), (events) => events.map((e) => Number(e.version)))

      // From the end, no limit: every event once, newest first.
      assert.deepStrictEqual(yield* versions({ direction: "backwards" }), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
      assert.strictEqual(opened.length, 3)
      assert.deepStrictEqual(opened.slice(1).map((o) => o?.from), [6n, 3n])
      // From a version, with a limit that spans the failures.
      opened.length = 0
      assert.deepStrictEqual(yield* versions({ direction: "backwards", from: 8n, limit: 7 }), [8, 7, 6, 5, 4, 3, 2])
      assert.deepStrictEqual(opened.slice(1).map((o) => [o?.from, o?.limit]), [[5n, 4], [2n, 1]])
      // Version 0 delivered just before a failure: the read is over (no resume from version -1).
      opened.length = 0
      assert.deepStrictEqual(yield* versions({ direction: "backwards", from: 5n }), [5, 4, 3, 2, 1, 0])
      assert.strictEqual(opened.length, 2)
      // A limit reached exactly at a failure: nothing more, no event twice.
      opened.length = 0
      assert.deepStrictEqual(yield* versions({ direction: "backwards", limit: 3 }), [9, 8, 7])
      assert.strictEqual(opened.length, 1)
    }))

  it.effect("withDocumentRetry retries a document read and counts attempts; final errors once", () =>
    Effect.gen(function*() {
      const { documentStore } = yield* MemoryStore.make()
      const c = DocumentStore.collection("docs", Schema.Unknown)
      let calls = 0
      let fail: unknown = unavailable("get")
      const flaky: DocumentStore.DocumentStoreShape = {
        ...documentStore,
        get: (collection, id) =>
          Effect.suspend(() => (calls++ < 2 ? Effect.fail(fail as never) : documentStore.get(collection, id)))
      }
      yield* documentStore.put(c, "d", { x: 1 })
      const fiber = yield* Effect.forkChild(Retry.withDocumentRetry(flaky).get(c, "d"))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(Option.map(yield* Fiber.join(fiber), (d) => d.value), Option.some({ x: 1 }))
      assert.strictEqual(calls, 3)
      calls = 0
      fail = new StoreError.InvalidDocument({ collection: "docs", id: "d", detail: "x" })
      yield* Effect.flip(Retry.withDocumentRetry(flaky).get(c, "d"))
      assert.strictEqual(calls, 1)
    }))

  describe("warnings: one per retry that happens, none for a retry that does not", () => {
    const conflict = new StoreError.DocumentConflict({ collection: "docs", id: "d", expected: "missing", actual: 0n })
    const invalidDocument = new StoreError.InvalidDocument({ collection: "docs", id: "d", detail: "x" })
    const transient = unavailable("op")

    for (const error of finalErrors) {
      it.effect(`EventStore: ${error._tag} alone logs no warning (append and subscribeAll)`, () =>
        Effect.gen(function*() {
          const { calls, events } = yield* scripted({ append: [error], subscribeAll: [error] })
          const retried = Retry.withRetry(events)
          const append = yield* settled(retried.append("s", [{ type: "E", data: {} }]))
          assert.isTrue(Exit.isFailure(append.result))
          assert.deepStrictEqual(warnings(append.lines), [])
          const stream = yield* settled(Stream.runDrain(retried.subscribeAll()))
          assert.isTrue(Exit.isFailure(stream.result))
          assert.deepStrictEqual(warnings(stream.lines), [])
          assert.deepStrictEqual([calls.append, calls.subscribeAll], [1, 1])
        }))
    }

    for (const error of [conflict, invalidDocument]) {
      it.effect(`DocumentStore: ${error._tag} alone logs no warning (get and put)`, () =>
        Effect.gen(function*() {
          const { calls, documents } = yield* scripted({ get: [error], put: [error] })
          const retried = Retry.withDocumentRetry(documents)
          const get = yield* settled(retried.get(Docs, "d"))
          assert.isTrue(Exit.isFailure(get.result))
          assert.deepStrictEqual(warnings(get.lines), [])
          const put = yield* settled(retried.put(Docs, "d", { x: 1 }))
          assert.isTrue(Exit.isFailure(put.result))
          assert.deepStrictEqual(warnings(put.lines), [])
          assert.deepStrictEqual([calls.get, calls.put], [1, 1])
        }))
    }

    it.effect("the default store layer logs no warning for WrongExpectedVersion or DocumentConflict", () =>
      Effect.gen(function*() {
        const { lines } = yield* captureLogs(
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const docs = yield* DocumentStore.DocumentStore
            yield* store.append("s", [{ type: "E", data: {} }])
            const wrong = yield* Effect.flip(
              store.append("s", [{ type: "E", data: {} }], { expected: ExpectedVersion.noStream })
            )
            assert.strictEqual(wrong._tag, "WrongExpectedVersion")
            yield* docs.put(Docs, "d", { x: 1 })
            const taken = yield* Effect.flip(docs.put(Docs, "d", { x: 2 }, { expected: "missing" }))
            assert.strictEqual(taken._tag, "DocumentConflict")
          }).pipe(Effect.provide(MemoryStore.layer()))
        )
        assert.deepStrictEqual(warnings(lines), [])
      }))

    it.effect("EventStore append: a transient failure then a final one logs one warning (the retry made)", () =>
      Effect.gen(function*() {
        const final = finalErrors[0]
        const { calls, events } = yield* scripted({ append: [transient, final] })
        const { lines, result } = yield* settled(Retry.withRetry(events).append("s", [{ type: "E", data: {} }]))
        assert.deepStrictEqual(result, Exit.fail(final))
        assert.strictEqual(calls.append, 2)
        const logged = warnings(lines)
        assert.strictEqual(logged.length, 1, logged.join("\n"))
        assert.include(logged[0], "append failed transiently, retry 1 in 50ms")
      }))

    it.effect("DocumentStore put: a transient failure then a final one logs one warning (the retry made)", () =>
      Effect.gen(function*() {
        const { calls, documents } = yield* scripted({ put: [transient, conflict] })
        const { lines, result } = yield* settled(Retry.withDocumentRetry(documents).put(Docs, "d", { x: 1 }))
        assert.deepStrictEqual(result, Exit.fail(conflict))
        assert.strictEqual(calls.put, 2)
        const logged = warnings(lines)
        assert.strictEqual(logged.length, 1, logged.join("\n"))
        assert.include(logged[0], "document.put failed transiently, retry 1")
      }))

    it.effect("subscribeAll: a transient failure then a final one logs one warning (the retry made)", () =>
      Effect.gen(function*() {
        const final = finalErrors[4]
        const { calls, events } = yield* scripted({ subscribeAll: [transient, final] })
        const { lines, result } = yield* settled(Stream.runDrain(Retry.withRetry(events).subscribeAll()))
        assert.deepStrictEqual(result, Exit.fail(final))
        assert.strictEqual(calls.subscribeAll, 2)
        const logged = warnings(lines)
        assert.strictEqual(logged.length, 1, logged.join("\n"))
        assert.include(logged[0], "subscribeAll failed transiently, retry 1")
      }))

    it.effect("transient failures that clear: exactly one warning per retry, numbered", () =>
      Effect.gen(function*() {
        const { calls, documents, events, inner } = yield* scripted({
          append: [transient, transient],
          subscribeAll: [transient, transient, transient],
          get: [transient],
          put: [transient, transient]
        })
        const retried = Retry.withRetry(events)
        const append = yield* settled(retried.append("s", [{ type: "E", data: {} }]))
        assert.isTrue(Exit.isSuccess(append.result))
        assert.deepStrictEqual(
          warnings(append.lines).map((line) => line.match(/(\S+) failed transiently, retry (\d+)/)?.slice(1)),
          [["append", "1"], ["append", "2"]]
        )
        assert.strictEqual(calls.append, 3)
        assert.strictEqual((yield* Stream.runCollect(inner.read("s"))).length, 1)
        const stream = yield* settled(Stream.runCollect(Stream.take(retried.subscribeAll(), 1)))
        assert.isTrue(Exit.isSuccess(stream.result))
        assert.strictEqual(warnings(stream.lines).length, 3, stream.lines.join("\n"))
        assert.strictEqual(calls.subscribeAll, 4)
        const documentRetry = Retry.withDocumentRetry(documents)
        const put = yield* settled(documentRetry.put(Docs, "d", { x: 1 }))
        assert.isTrue(Exit.isSuccess(put.result))
        assert.strictEqual(warnings(put.lines).length, 2, put.lines.join("\n"))
        const get = yield* settled(documentRetry.get(Docs, "d"))
        assert.isTrue(Exit.isSuccess(get.result))
        assert.strictEqual(warnings(get.lines).length, 1, get.lines.join("\n"))
        assert.deepStrictEqual([calls.put, calls.get], [3, 2])
      }))

    it.effect("an exhausted budget logs only the retries made: recurs(3) is four attempts, three warnings", () =>
      Effect.gen(function*() {
        const always = Array.from({ length: 100 }, () => transient)
        const { calls, documents, events } = yield* scripted({ append: always, put: always })
        const append = yield* settled(
          Retry.withRetry(events, Schedule.recurs(3)).append("s", [{ type: "E", data: {} }])
        )
        assert.isTrue(Exit.isFailure(append.result))
        assert.strictEqual(calls.append, 4)
        assert.strictEqual(warnings(append.lines).length, 3, append.lines.join("\n"))
        // The default budget: six attempts, five retries.
        const put = yield* settled(Retry.withDocumentRetry(documents).put(Docs, "d", { x: 1 }))
        assert.isTrue(Exit.isFailure(put.result))
        assert.strictEqual(calls.put, 6)
        assert.strictEqual(warnings(put.lines).length, 5, put.lines.join("\n"))
      }))
  })
})
