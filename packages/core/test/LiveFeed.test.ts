/**
 * The shared live reader (issue 23, many subscribers): it runs only while someone listens, a slow
 * member overflows instead of holding the others, and a failed read fails every member.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Event } from "@strata/core"
import { StoreError } from "@strata/core"
import { LiveFeed, Subscription } from "@strata/core/backend"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Tracer from "effect/Tracer"
import { event } from "./feedFixture.ts"

/** An in-memory global log with a feed over it; `fail` makes the next reads fail. */
const fixture = (
  options?: {
    readonly bufferSize?: number
    readonly tombstoned?: Set<string>
    readonly coalesce?: Duration.Input | undefined
  }
) =>
  Effect.gen(function*() {
    const signal = yield* Subscription.makeSignal
    const log: Array<Event.RecordedEvent> = []
    const control = { fail: false }
    const asked: Array<ReadonlyArray<string>> = []
    const tombstoned = options?.tombstoned
    const feed = LiveFeed.make<StoreError.StoreUnavailable>({
      readPage: (after, want) =>
        Effect.suspend(() =>
          control.fail
            ? Effect.fail(new StoreError.StoreUnavailable({ operation: "test", reason: "ConnectionError" }))
            : Effect.succeed({ events: log.slice(Number(after), Number(after) + want) })
        ),
      head: Effect.sync(() => BigInt(log.length)),
      wakeups: PubSub.subscribe(signal),
      pollInterval: "50 millis",
      pageSize: 10,
      bufferSize: options?.bufferSize,
      gone: tombstoned === undefined ? undefined : (streams) =>
        Effect.sync(() => {
          asked.push(streams)
          return streams.filter((stream) => tombstoned.has(stream))
        }),
      checkInterval: "30 millis",
      coalesce: options?.coalesce
    })
    const append = (stream = "s-1", type = "E") =>
      Effect.andThen(
        Effect.sync(() => log.push(event(log.length + 1, stream, type))),
        PubSub.publish(signal, undefined)
      )
    return { feed, append, control, asked }
  })

/** What the member gets next, which must not be an overflow. */
const next = <E>(member: LiveFeed.Member<E>) =>
  Effect.map(member.take, (taken) => taken === "Overflow" ? assert.fail("unexpected overflow") : taken)

const waitUntil = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && !check(); i++) yield* Effect.sleep("10 millis")
    assert.isTrue(check(), "condition reached within 2 s")
  })

describe("LiveFeed", () => {
  it.live("the reader starts with the first member and stops when the last one leaves", () =>
    Effect.gen(function*() {
      const { append, feed } = yield* fixture()
      assert.isFalse(feed.running())
      const a = yield* feed.join({ stream: "s-1", matches: () => true })
      const b = yield* feed.join({ matches: (e) => e.type === "E" })
      assert.isTrue(feed.running())
      assert.strictEqual(a.position, 0n)
      yield* append()
      assert.deepStrictEqual(yield* next(a), [event(1)])
      assert.deepStrictEqual(yield* next(b), [event(1)])
      yield* a.leave
      assert.isTrue(feed.running(), "one member left")
      yield* b.leave
      assert.isFalse(feed.running(), "nobody listens")
      yield* Effect.sleep("30 millis")
      const reads = feed.reads()
      yield* append()
      yield* Effect.sleep("200 millis") // past the poll interval
      assert.strictEqual(feed.reads(), reads, "no reads once nobody listens")
      // A new member starts a new reader at the head.
      const c = yield* feed.join({ matches: () => true })
      assert.strictEqual(c.position, 2n)
      yield* append()
      assert.deepStrictEqual((yield* next(c)).map((e) => e.position), [3n])
      yield* c.leave
    }))

  it.live("filters in process: a member gets only its stream's or its filter's events", () =>
    Effect.gen(function*() {
      const { append, feed } = yield* fixture()
      const mine = yield* feed.join({ stream: "s-2", matches: () => true })
      const typed = yield* feed.join({ types: ["B", "C"], matches: (e) => e.stream === "s-1" })
      const scanned = yield* feed.join({ matches: (e) => e.stream === "s-2" })
      yield* append("s-1", "A")
      yield* append("s-2", "A")
      yield* append("s-1", "B")
      yield* append("s-2", "C")
      yield* append("s-1", "C")
      yield* waitUntil(() => feed.reads() > 0)
      yield* Effect.sleep("20 millis")
      assert.deepStrictEqual((yield* next(mine)).map((e) => e.position), [2n, 4n])
      // Only types B and C are visited, and of those only what `matches` accepts.
      assert.deepStrictEqual((yield* next(typed)).map((e) => e.position), [3n, 5n])
      assert.deepStrictEqual((yield* next(scanned)).map((e) => e.position), [2n, 4n])
      yield* Effect.forEach([mine, typed, scanned], (m) => m.leave, { discard: true })
      assert.isFalse(feed.running())
    }))

  it.live("a member more than bufferSize events behind overflows and leaves; the others get everything", () =>
    Effect.gen(function*() {
      const { append, feed } = yield* fixture({ bufferSize: 5 })
      const slow = yield* feed.join({ matches: () => true })
      const fast = yield* feed.join({ matches: () => true })
      const got: Array<bigint> = []
      for (let i = 0; i < 12; i++) {
        yield* append()
        yield* waitUntil(() => feed.reads() > 0)
        const taken = yield* fast.take
        assert.notStrictEqual(taken, "Overflow")
        if (taken !== "Overflow") got.push(...taken.map((e) => e.position))
      }
      assert.deepStrictEqual(got, Array.from({ length: 12 }, (_, i) => BigInt(i + 1)))
      assert.strictEqual(yield* slow.take, "Overflow")
      assert.strictEqual(feed.members(), 1, "the slow member left")
      yield* fast.leave
      assert.isFalse(feed.running())
    }))

  it.live("a failed read fails every member with the error, and the next join starts a new reader", () =>
    Effect.gen(function*() {
      const { append, control, feed } = yield* fixture()
      const a = yield* feed.join({ stream: "s-1", matches: () => true })
      const b = yield* feed.join({ matches: () => true })
      control.fail = true
      yield* append()
      const errors = yield* Effect.forEach([a, b], (m) => Effect.flip(m.take))
      assert.deepStrictEqual(errors.map((e) => e._tag), ["StoreUnavailable", "StoreUnavailable"])
      yield* waitUntil(() => !feed.running())
      assert.strictEqual(feed.members(), 0)
      control.fail = false
      const c = yield* feed.join({ matches: () => true })
      yield* append()
      assert.deepStrictEqual((yield* next(c)).map((e) => e.position), [2n])
      yield* c.leave
    }))

  it.live("on the check tick, members of a tombstoned stream are told to read again; the others stay", () =>
    Effect.gen(function*() {
      const tombstoned = new Set<string>()
      const { append, asked, feed } = yield* fixture({ tombstoned })
      const gone = yield* feed.join({ stream: "s-1", matches: () => true })
      const alsoGone = yield* feed.join({ stream: "s-1", matches: () => true })
      const stays = yield* feed.join({ stream: "s-2", matches: () => true })
      const all = yield* feed.join({ matches: () => true })
      // Checked on the tick without any wake-up; nothing is gone yet.
      yield* waitUntil(() => feed.checks() >= 2)
      assert.deepStrictEqual([...new Set(asked.flat())].sort(), ["s-1", "s-2"], "only the members' streams")
      tombstoned.add("s-1")
      assert.strictEqual(yield* gone.take, "Overflow")
      assert.strictEqual(yield* alsoGone.take, "Overflow")
      assert.strictEqual(feed.members(), 2, "the gone stream's members left")
      yield* append("s-2")
      assert.deepStrictEqual((yield* next(stays)).map((e) => e.position), [1n])
      assert.deepStrictEqual((yield* next(all)).map((e) => e.position), [1n])
      yield* Effect.forEach([stays, all], (m) => m.leave, { discard: true })
    }))

  it.live("the check asks about at most 1,000 streams at a time", () =>
    Effect.gen(function*() {
      const { asked, feed } = yield* fixture({ tombstoned: new Set() })
      const members = yield* Effect.forEach(
        Array.from({ length: 2_500 }, (_, i) => `s-${i}`),
        (stream) => feed.join({ stream, matches: () => true })
      )
      // One tick over every member: three queries of 1,000, 1,000 and 500 streams.
      const sizes = () => asked.map((chunk) => chunk.length).join(",")
      yield* waitUntil(() => sizes().includes("1000,1000,500"))
      assert.isTrue(asked.every((chunk) => chunk.length <= 1_000))
      yield* Effect.forEach(members, (m) => m.leave, { discard: true })
    }))

  it.live("the reader's reads are root spans, not children of the subscription that started it", () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    return Effect.gen(function*() {
      const { append, feed } = yield* fixture()
      const member = yield* feed.join({ matches: () => true }).pipe(Effect.withSpan("first.subscriber"))
      yield* append()
      yield* next(member)
      yield* member.leave
      const reads = spans.filter((span) => span.name === "strata.liveFeed.read")
      assert.isAtLeast(reads.length, 1)
      for (const read of reads) assert.isTrue(Option.isNone(read.parent), "a root span")
      assert.strictEqual(reads[0].attributes.get("strata.live.members"), 1)
      assert.isAtLeast(spans.filter((span) => span.name === "first.subscriber").length, 1)
    }).pipe(Effect.withTracer(tracer))
  })

  it.live("coalesce: appends a few ms apart cost one read per interval, and every event arrives in order", () =>
    Effect.gen(function*() {
      const got: Array<bigint> = []
      const burst = (coalesce: Duration.Input | undefined) =>
        Effect.gen(function*() {
          const { append, feed } = yield* fixture({ coalesce })
          const member = yield* feed.join({ matches: () => true })
          yield* waitUntil(() => feed.reads() > 0)
          const before = feed.reads()
          for (let i = 0; i < 5; i++) {
            yield* append()
            yield* Effect.sleep("5 millis")
          }
          got.length = 0
          while (got.length < 5) got.push(...(yield* next(member)).map((e) => e.position))
          const reads = feed.reads() - before
          yield* member.leave
          return reads
        })
      const each = yield* burst(undefined)
      assert.deepStrictEqual(got, [1n, 2n, 3n, 4n, 5n])
      const coalesced = yield* burst("200 millis")
      assert.deepStrictEqual(got, [1n, 2n, 3n, 4n, 5n])
      assert.isAtLeast(each, 5, "a read per wake-up")
      assert.isAtMost(coalesced, 2, "one read, then one for what came during the pause")
    }))
})
