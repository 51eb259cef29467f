import { assert, describe, it } from "@effect/vitest"
import { ConsumerGroup, EventStore, Lease, MemoryStore } from "@strata/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

const get = <A>(option: Option.Option<A>, what: string): A => {
  if (Option.isNone(option)) throw new Error(`${what}: expected a lease`)
  return option.value
}

describe("ConsumerGroup.partitionOf", () => {
  // FNV-1a 32-bit reference vectors ("a" -> 0xe40c292c, "foobar" -> 0xbf9cf968): the partition of a
  // stream must never change between releases, or streams would move with their checkpoints behind.
  it("is FNV-1a over the UTF-8 bytes, modulo the partition count", () => {
    assert.strictEqual(ConsumerGroup.partitionOf("a", 2 ** 31), 0xe40c292c % 2 ** 31)
    assert.strictEqual(ConsumerGroup.partitionOf("foobar", 1000), 0xbf9cf968 % 1000)
    assert.strictEqual(ConsumerGroup.partitionOf("ünïcödé-7", 16), 0xc18d1fae % 16)
    assert.strictEqual(ConsumerGroup.partitionOf("anything", 1), 0)
  })

  it("spreads streams over the partitions", () => {
    const counts = new Array<number>(8).fill(0)
    for (let i = 0; i < 8000; i++) counts[ConsumerGroup.partitionOf(`cart-${i}`, 8)]++
    for (const count of counts) assert.isTrue(count > 800 && count < 1200, `uneven: ${counts.join(", ")}`)
  })
})

describe("ConsumerGroup.run", () => {
  it.effect("rejects a partition count outside 1..1024 with InvalidArgument", () =>
    Effect.gen(function*() {
      for (const partitions of [0, -1, 1.5, 1025, Number.NaN]) {
        const error = yield* Effect.flip(ConsumerGroup.run("g", { partitions, handler: () => Effect.void }))
        assert.strictEqual(error._tag, "InvalidArgument")
      }
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a TTL of zero, or a renewal interval not below the TTL, is InvalidArgument", () =>
    Effect.gen(function*() {
      const bad = [{ ttl: "0 millis" }, { ttl: "1 second", renewEvery: "1 second" }, {
        ttl: "1 second",
        renewEvery: "0 millis"
      }] as const
      for (const options of bad) {
        const held = yield* Effect.flip(Lease.holding("x", options)(() => Effect.void))
        assert.strictEqual(held._tag, "InvalidArgument")
        const group = yield* Effect.flip(
          ConsumerGroup.run("g", {
            partitions: 2,
            ttl: options.ttl,
            rebalanceEvery: "renewEvery" in options ? options.renewEvery : undefined,
            handler: () => Effect.void
          })
        )
        assert.strictEqual(group._tag, "InvalidArgument")
      }
    }).pipe(Effect.provide(MemoryStore.layer())))

  // On the TestClock: lease expiry and the member's loop only move when the test says so, however
  // loaded the machine is.
  it.effect("a joining member prunes memberships that expired long ago, and only those", () =>
    Effect.gen(function*() {
      const store = yield* Lease.LeaseStore
      const prefix = ConsumerGroup.memberPrefix("pruned")
      // One member died 10 s ago (more than ten of the new member's 1 s TTLs); one just now.
      get(yield* store.acquire(`${prefix}old`, "old", Duration.millis(10)), "old")
      yield* TestClock.adjust("10 seconds")
      get(yield* store.acquire(`${prefix}recent`, "recent", Duration.millis(10)), "recent")
      yield* TestClock.adjust("20 millis")
      const member = yield* ConsumerGroup.run("pruned", {
        partitions: 1,
        ttl: "1 second",
        member: "new",
        handler: () => Effect.void
      }).pipe(Effect.forkChild)
      // The member prunes before it takes partitions: once it holds partition 0, the prune is done.
      for (let i = 0; i < 1000; i++) {
        const held = yield* store.list(ConsumerGroup.partitionLease("pruned", 0))
        if (held.some((lease) => lease.holder === "new")) break
        yield* Effect.yieldNow
      }
      assert.isTrue((yield* store.list(ConsumerGroup.partitionLease("pruned", 0))).length === 1, "member started")
      yield* Fiber.interrupt(member)
      // Taken again: a pruned name starts over at token 1, a kept one hands on with token 2.
      assert.strictEqual(get(yield* store.acquire(`${prefix}old`, "x", Duration.seconds(1)), "old").token, 1n)
      assert.strictEqual(get(yield* store.acquire(`${prefix}recent`, "x", Duration.seconds(1)), "recent").token, 2n)
    }).pipe(Effect.provide(MemoryStore.layer())))

  // The prune used to run between the membership's acquire and its first renewal: a prune slower
  // than the TTL (a loaded machine, a large lease table) cost the member the membership it had just
  // taken, every time it joined again, so it never took a partition.
  it.effect("a prune slower than the TTL does not cost the joining member its membership", () =>
    Effect.gen(function*() {
      const memory = yield* Lease.LeaseStore
      const store = Lease.LeaseStore.of({
        ...memory,
        prune: (prefix, olderThan) => Effect.andThen(Effect.sleep("2 seconds"), memory.prune(prefix, olderThan))
      })
      const member = yield* ConsumerGroup.run("slow-prune", {
        partitions: 1,
        ttl: "1 second",
        member: "m",
        handler: () => Effect.void
      }).pipe(Effect.provideService(Lease.LeaseStore, store), Effect.forkChild)
      // Five seconds in steps of a tenth of the TTL, each letting the member's fibers run.
      for (let i = 0; i < 50; i++) {
        yield* TestClock.adjust("100 millis")
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
      }
      const membership = yield* memory.list(ConsumerGroup.memberPrefix("slow-prune"))
      const partition = yield* memory.list(ConsumerGroup.partitionLease("slow-prune", 0))
      yield* Fiber.interrupt(member)
      assert.deepStrictEqual(membership.map((lease) => [lease.holder, lease.token]), [["m", 1n]], "never lost")
      assert.deepStrictEqual(partition.map((lease) => lease.holder), ["m"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a lease name that is empty or too long is InvalidArgument", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Lease.holding("")(() => Effect.void))
      assert.strictEqual(error._tag, "InvalidArgument")
    }).pipe(Effect.provide(MemoryStore.layer())))

  // Before partition filters every partition's consumer read the whole log and skipped other
  // partitions' events in its handler: 4 partitions received 4 x 40 events.
  it.live("each partition's consumer subscribes to its own partition only, within the caller's filter", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const category = `grp${crypto.randomUUID().replaceAll("-", "")}`
      for (let i = 0; i < 20; i++) {
        yield* store.append(`${category}-${i}`, [{ type: "A", data: {} }, { type: "A", data: {} }])
      }
      yield* store.append("other-1", [{ type: "A", data: {} }])
      const filters: Array<EventStore.EventFilter | undefined> = []
      let delivered = 0
      let handled = 0
      const spy = EventStore.EventStore.of({
        ...store,
        subscribeAll: (options) => {
          filters.push(options?.filter)
          return store.subscribeAll(options).pipe(Stream.tap(() => Effect.sync(() => delivered++)))
        }
      })
      const member = yield* ConsumerGroup.run("split", {
        partitions: 4,
        filter: { categories: [category] },
        ttl: "2 seconds",
        handler: () => Effect.sync(() => handled++)
      }).pipe(Effect.provideService(EventStore.EventStore, spy), Effect.forkChild)
      for (let i = 0; i < 500 && handled < 40; i++) yield* Effect.sleep("10 millis")
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(member)
      assert.strictEqual(handled, 40)
      assert.strictEqual(delivered, 40)
      const partitions = filters.map((filter) => filter?.partition?.index).sort()
      assert.deepStrictEqual(partitions, [0, 1, 2, 3])
      for (const filter of filters) {
        assert.deepStrictEqual(filter?.categories, [category])
        assert.strictEqual(filter?.partition?.count, 4)
      }
    }).pipe(Effect.provide(MemoryStore.layer())))
})
