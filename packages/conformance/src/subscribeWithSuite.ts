/**
 * Subscriptions run by a handler (`EventStore.subscribeWith`, `subscribeAllWith`): the deliveries of
 * `subscribe` (catch-up then live, every event once, in order, across the seam, also while other
 * fibers append), handed to the handler one batch at a time; a handler's failure ends the
 * subscription and `await` reports it; closing the scope stops it.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import type { Event } from "@strata/core"
import { EventStore } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { assertIncreasing, events, failsWith, names, show, versions, within } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/** What a handler was given: the events, one batch at a time, and how many handler calls ran at once. */
interface Handled {
  readonly handler: (events: ReadonlyArray<Event.RecordedEvent>) => Effect.Effect<void>
  /** Waits for the next `n` events (failing the test after `timeout`). */
  readonly take: (n: number) => Effect.Effect<Array<Event.RecordedEvent>>
  /** Whatever has been handed over and not taken yet. */
  readonly drain: Effect.Effect<Array<Event.RecordedEvent>>
  readonly batches: Array<number>
  /** The most handler calls that ever ran at once (one, for a subscription that keeps order). */
  readonly overlap: () => number
}

const handled = (timeout: Duration.Input, work?: Effect.Effect<void>): Effect.Effect<Handled> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Event.RecordedEvent>()
    const batches: Array<number> = []
    let running = 0
    let most = 0
    return {
      handler: (events) =>
        Effect.gen(function*() {
          running++
          most = Math.max(most, running)
          batches.push(events.length)
          if (work !== undefined) yield* work
          yield* Queue.offerAll(queue, events)
          running--
        }),
      take: (n) =>
        Effect.gen(function*() {
          const got: Array<Event.RecordedEvent> = []
          while (got.length < n) {
            const next = yield* Queue.take(queue).pipe(Effect.timeoutOption(timeout))
            if (Option.isNone(next)) {
              return assert.fail(`the handler was given ${got.length} of ${n} expected events: ${show(got)}`)
            }
            got.push(next.value)
          }
          return got
        }),
      drain: Queue.clear(queue),
      batches,
      overlap: () => most
    }
  })

/**
 * Registers the tests of subscriptions run by a handler.
 *
 * @category suites
 * @since 0.1.0
 */
export const subscribeWithSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { appendsPerWriter, deliveryTimeout, longStreamLength, pollInterval, supportsAppendMany, writers } = resolve(
    options
  )
  const total = writers * appendsPerWriter
  const settle = Effect.sleep(Duration.sum(Duration.fromInputUnsafe(pollInterval), Duration.millis(150)))

  describe("subscribeWith (a handler per delivered batch)", () => {
    it.effect("from start: stored events then live ones, each once, in version order, one batch at a time", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        const got = yield* handled(deliveryTimeout, Effect.sleep("1 millis"))
        yield* EventStore.subscribeWith(stream, got.handler)
        assert.deepStrictEqual((yield* got.take(3)).map((e) => e.version), versions(3))
        yield* store.append(stream, events(n.type("E"), 2, 3))
        yield* store.append(stream, events(n.type("E"), 1, 5))
        const live = yield* got.take(3)
        assert.deepStrictEqual(live.map((e) => e.version), versions(3, 3))
        assert.deepStrictEqual(live.map((e) => e.data), [{ i: 3 }, { i: 4 }, { i: 5 }])
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [])
        assert.strictEqual(got.overlap(), 1, "one handler call at a time")
        assert.isTrue(got.batches.every((size) => size > 0), "no empty batch")
      })))

    it.effect("from after version n: versions n+1 onwards, then live ones", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 5))
        const got = yield* handled(deliveryTimeout)
        yield* EventStore.subscribeWith(stream, got.handler, { from: { after: 2n } })
        assert.deepStrictEqual((yield* got.take(2)).map((e) => e.version), [3n, 4n])
        yield* store.append(stream, events(n.type("E"), 1, 5))
        assert.deepStrictEqual((yield* got.take(1)).map((e) => e.version), [5n])
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [])
      })))

    it.effect("from end, fixed when subscribeWith returns: nothing stored, every event appended after", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Old"), 4))
        const got = yield* handled(deliveryTimeout)
        yield* EventStore.subscribeWith(stream, got.handler, { from: "end" })
        // Appended at once, before the subscription has read anything: still delivered.
        yield* store.append(stream, events(n.type("New"), 2))
        assert.deepStrictEqual((yield* got.take(2)).map((e) => e.version), [4n, 5n])
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [])
      })))

    it.effect("the catch-up/live seam under concurrent appends: every event once, in order", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Before"), longStreamLength))
        const got = yield* handled(deliveryTimeout)
        const writing = yield* Effect.forEach(
          Array.from({ length: writers }, (_, w) => w),
          (w) =>
            Effect.forEach(
              Array.from({ length: appendsPerWriter }, (_, i) => i),
              (i) => store.append(stream, [{ type: n.type("During"), data: { w, i } }]),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        ).pipe(Effect.forkChild)
        yield* EventStore.subscribeWith(stream, got.handler)
        yield* Fiber.join(writing)
        const all = yield* got.take(longStreamLength + total).pipe(
          within(
            Duration.sum(Duration.fromInputUnsafe(deliveryTimeout), Duration.seconds(20)),
            "every event handed over"
          )
        )
        assert.deepStrictEqual(all.map((e) => e.version), versions(longStreamLength + total))
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [])
      })))

    it.effect("events appended while it catches up are handed over once: the seam drops what its reads gave", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Before"), longStreamLength))
        // The handler holds its first (catch-up) batch while more events are appended: a shared
        // reader hands them to the subscription, and its next catch-up read returns them too.
        const gate = yield* Deferred.make<void>()
        const got = yield* handled(deliveryTimeout, Deferred.await(gate))
        yield* EventStore.subscribeWith(stream, got.handler)
        yield* Effect.sleep("50 millis")
        for (let i = 0; i < 5; i++) yield* store.append(stream, events(n.type("During"), 1, i))
        yield* Effect.sleep("50 millis")
        yield* Deferred.succeed(gate, undefined)
        const all = yield* got.take(longStreamLength + 5)
        assert.deepStrictEqual(all.map((e) => e.version), versions(longStreamLength + 5))
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [], "nothing handed over twice")
      })))

    it.effect("subscribeAllWith: a filtered global subscription gets its events once, in position order", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a"), events(n.type("E"), 2))
        const got = yield* handled(deliveryTimeout)
        yield* EventStore.subscribeAllWith(got.handler, { filter: { categories: [n.category] } })
        const writing = yield* Effect.forEach(
          Array.from({ length: writers }, (_, w) => w),
          (w) =>
            Effect.forEach(
              Array.from({ length: appendsPerWriter }, (_, i) => i),
              (i) => store.append(n.stream(`w${w}`), [{ type: n.type("During"), data: { w, i } }]),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        ).pipe(Effect.forkChild)
        yield* store.append("other-" + n.stream(), events(n.type("Elsewhere"), 1))
        yield* Fiber.join(writing)
        const all = yield* got.take(2 + total)
        assertIncreasing(all.map((e) => e.position), "positions")
        assert.isTrue(all.every((e) => e.stream.startsWith(`${n.category}-`)), "only the category's events")
        assert.strictEqual(new Set(all.map((e) => e.id)).size, all.length, "no event twice")
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [])
      })))

    it.effect("a handler's failure ends the subscription: await fails with it, nothing more is handed over", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const seen: Array<bigint> = []
        const subscription = yield* EventStore.subscribeWith(stream, (events) =>
          Effect.gen(function*() {
            seen.push(...events.map((e) => e.version))
            if (events.some((e) => e.type === n.type("Bad"))) {
              return yield* Effect.fail({ _tag: "HandlerFailed", at: events[0].version } as const)
            }
          }))
        yield* store.append(stream, events(n.type("Ok"), 2))
        yield* store.append(stream, events(n.type("Bad"), 1))
        const error = yield* failsWith("HandlerFailed")(subscription.await).pipe(
          within(deliveryTimeout, "await reports the handler's failure")
        )
        assert.isTrue(error.at <= 2n)
        const handedBefore = seen.length
        yield* store.append(stream, events(n.type("After"), 2))
        yield* settle
        assert.strictEqual(seen.length, handedBefore, "no handler call after the failure")
        assert.isTrue(seen.includes(2n), "the failing batch was handed over")
      })))

    it.effect("closing the scope stops it: await succeeds, no handler call after", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const got = yield* handled(deliveryTimeout)
        const scope = yield* Scope.make()
        const subscription = yield* EventStore.subscribeWith(stream, got.handler).pipe(Scope.provide(scope))
        yield* store.append(stream, events(n.type("E"), 2))
        assert.deepStrictEqual((yield* got.take(2)).map((e) => e.version), versions(2))
        yield* Scope.close(scope, Exit.void)
        yield* subscription.await.pipe(within(deliveryTimeout, "await succeeds once the scope closed"))
        yield* store.append(stream, events(n.type("E"), 2, 2))
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [], "nothing handed over after the scope closed")
      }))

    it.effect("an invalid stream name fails it with InvalidStreamName, never a defect", () =>
      Effect.scoped(Effect.gen(function*() {
        const outcome = yield* EventStore.subscribeWith("", () => Effect.void).pipe(
          Effect.flatMap((subscription) => subscription.await),
          within(deliveryTimeout, "the invalid name is reported")
        ).pipe(failsWith("InvalidStreamName"))
        assert.strictEqual(outcome._tag, "InvalidStreamName")
      })))

    it.effect("many at once, each on its own stream: each gets exactly its own events, live", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const count = 20
        const subscriptions = yield* Effect.forEach(
          Array.from({ length: count }, (_, i) => i),
          (i) =>
            Effect.gen(function*() {
              const got = yield* handled(deliveryTimeout)
              yield* EventStore.subscribeWith(n.stream(`s${i}`), got.handler)
              return got
            })
        )
        const requests = Array.from({ length: count }, (_, i) => ({
          stream: n.stream(`s${i}`),
          events: events(n.type("E"), i + 1)
        }))
        if (supportsAppendMany) yield* store.appendMany(requests)
        else yield* Effect.forEach(requests, (r) => store.append(r.stream, r.events), { discard: true })
        for (let i = 0; i < count; i++) {
          const got = yield* subscriptions[i].take(i + 1)
          assert.deepStrictEqual(got.map((e) => e.stream), Array(i + 1).fill(n.stream(`s${i}`)))
          assert.deepStrictEqual(got.map((e) => e.version), versions(i + 1))
        }
        yield* settle
        for (const got of subscriptions) assert.deepStrictEqual(yield* got.drain, [])
      })))

    it.effect("a slow handler behind a burst larger than a live buffer loses nothing and repeats nothing", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const burst = longStreamLength * 4
        // The handler holds its first batch until the whole burst is appended.
        const gate = yield* Deferred.make<void>()
        const got = yield* handled(deliveryTimeout, Deferred.await(gate))
        yield* EventStore.subscribeWith(stream, got.handler, { from: "end" })
        for (let at = 0; at < burst; at += 50) yield* store.append(stream, events(n.type("E"), 50, at))
        yield* Deferred.succeed(gate, undefined)
        const all = yield* got.take(burst).pipe(
          within(Duration.sum(Duration.fromInputUnsafe(deliveryTimeout), Duration.seconds(30)), "the burst")
        )
        assert.deepStrictEqual(all.map((e) => e.version), versions(burst))
        yield* settle
        assert.deepStrictEqual(yield* got.drain, [])
      })))
  })
}
