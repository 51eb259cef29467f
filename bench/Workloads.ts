/**
 * The benchmark workloads (design.md section 7), written once against EventStore plus a raw-SQL
 * "floor" that does the minimum each operation needs, measured in the same run.
 */
import { Event, EventStore, ExpectedVersion } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"

/**
 * The raw floor a backend provides: plain SQL, no validation, no checks beyond the version guard. It
 * stores and reads the same envelope as a store (id, stream, version, type, data, metadata, time), but
 * keeps no stream table, sends no wake-up and parses nothing it does not have to.
 */
export interface Floor {
  /**
   * One round trip: check the stream is at `expected` (-1 = new) and insert one event per payload.
   * Each event's JSON is sent, as the store must send it (not one payload copied on the server).
   */
  readonly append: (stream: string, expected: number, payloads: ReadonlyArray<string>) => Effect.Effect<void, unknown>
  /**
   * The same statement into a table that also has the indexes the store's reads and checks need
   * (unique event id, type and category with position): what the schema alone costs, no Strata code.
   */
  readonly appendIndexed: (
    stream: string,
    expected: number,
    payloads: ReadonlyArray<string>
  ) => Effect.Effect<void, unknown>
  /** Reads one stream in version order, paged; returns the number of events. */
  readonly readStream: (stream: string) => Effect.Effect<number, unknown>
  /** Reads everything in global order, paged; returns the number of events. */
  readonly readAll: Effect.Effect<number, unknown>
  /** Inserts `count` events straight into the store's own table (bulk SQL), returning the store's total. */
  readonly seedStore: (count: number, payload: string) => Effect.Effect<number, unknown>
}

// ~330 bytes of JSON, like a real domain event.
export const payload = {
  orderId: "ord_7f3a9c2e4b1d",
  customer: { id: "cus_19ab27cd", name: "Ada Lovelace", email: "ada@example.com", tier: "gold" },
  lines: [
    { sku: "SKU-1001", quantity: 2, price: 1999, currency: "EUR" },
    { sku: "SKU-2002", quantity: 1, price: 4999, currency: "EUR" }
  ],
  shipping: { method: "express", address: { city: "London", postcode: "N1 9GU", country: "GB" } },
  note: "Leave at the front desk after 5pm, ring twice"
}
export const payloadJson = JSON.stringify(payload)

const now = () => performance.now()

export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = now()
    const value = yield* effect
    return { value, ms: now() - start }
  })

const runConcurrently = <E, R>(total: number, concurrency: number, task: (i: number) => Effect.Effect<void, E, R>) =>
  Effect.forEach(Array.from({ length: concurrency }, (_, worker) => worker), (worker) =>
    Effect.gen(function*() {
      for (let i = worker; i < total; i += concurrency) yield* task(i)
    }), { concurrency, discard: true })

const ratio = (store: number, floor: number) => Math.round((store / floor) * 1000) / 1000

/**
 * W1/W2: appends of `size` events to fresh streams, ops/s for the store, the floor, and the floor on a
 * table with the store's indexes. Four rounds, each running the three in a different order, so none
 * always runs on the warmer (or more bloated) table; each rate is over its total time.
 */
export const appends = (floor: Floor, options: { total: number; concurrency: number; size: number; tag: string }) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const events = () => Array.from({ length: options.size }, () => Event.make("OrderPlaced", payload))
    const payloads = () => Array.from({ length: options.size }, () => payloadJson)
    const rounds = 4
    const perRound = Math.ceil(options.total / rounds)
    const contenders = {
      store: (round: number, i: number) =>
        Effect.asVoid(
          store.append(`${options.tag}s-${round}-${i}`, events(), { expected: ExpectedVersion.noStream })
        ),
      floor: (round: number, i: number) => floor.append(`${options.tag}f-${round}-${i}`, -1, payloads()),
      indexed: (round: number, i: number) => floor.appendIndexed(`${options.tag}i-${round}-${i}`, -1, payloads())
    }
    const orders = [
      ["store", "floor", "indexed"],
      ["floor", "indexed", "store"],
      ["indexed", "store", "floor"],
      ["store", "indexed", "floor"]
    ] as const
    const ms = { store: 0, floor: 0, indexed: 0 }
    for (let round = 0; round < rounds; round++) {
      for (const name of orders[round]) {
        const run = yield* timed(
          runConcurrently(perRound, options.concurrency, (i) => contenders[name](round, i))
        )
        ms[name] += run.ms
      }
    }
    const total = perRound * rounds
    const rate = (name: keyof typeof ms) => total / (ms[name] / 1000)
    return {
      appends: total,
      concurrency: options.concurrency,
      eventsPerAppend: options.size,
      storeAppendsPerSec: Math.round(rate("store")),
      floorAppendsPerSec: Math.round(rate("floor")),
      indexedFloorAppendsPerSec: Math.round(rate("indexed")),
      ratio: ratio(rate("store"), rate("floor")),
      // What the store's indexes alone cost the floor, and the store against that indexed floor.
      indexedFloorRatio: ratio(rate("indexed"), rate("floor")),
      ratioToIndexedFloor: ratio(rate("store"), rate("indexed"))
    }
  })

/** W3: read one 10,000-event stream. */
export const readStream = (floor: Floor, events: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const batch = Array.from({ length: 100 }, () => payload)
    for (let i = 0; i < events / 100; i++) {
      yield* store.append("w3s-long", batch.map((data) => Event.make("OrderPlaced", data)))
      yield* floor.append("w3f-long", i * 100 - 1, Array.from({ length: 100 }, () => payloadJson))
    }
    // Reads are short and noisy: warm both paths once, then take the best of seven passes each,
    // interleaved so a slow spell of the machine hits both sides.
    const strata = { count: 0, ms: Number.POSITIVE_INFINITY }
    const raw = { count: 0, ms: Number.POSITIVE_INFINITY }
    for (let pass = 0; pass < 8; pass++) {
      const storeRun = yield* timed(Stream.runCount(store.read("w3s-long")))
      const floorRun = yield* timed(floor.readStream("w3f-long"))
      strata.count = storeRun.value
      raw.count = floorRun.value
      if (pass === 0) continue
      strata.ms = Math.min(strata.ms, storeRun.ms)
      raw.ms = Math.min(raw.ms, floorRun.ms)
    }
    const storeRate = strata.count / (strata.ms / 1000)
    const floorRate = raw.count / (raw.ms / 1000)
    return {
      events: strata.count,
      complete: strata.count === events && raw.count === events,
      storeEventsPerSec: Math.round(storeRate),
      floorEventsPerSec: Math.round(floorRate),
      ratio: ratio(storeRate, floorRate)
    }
  })

/** W4: catch-up of everything in global order, by readAll and by a subscription, checked complete. */
export const catchUp = (floor: Floor) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    let previous = 0n
    let ordered = true
    // Best of three, interleaved (reads are short and noisy); the order check covers every pass.
    const readAll = timed(Stream.runFold(store.readAll(), () => 0, (n, event) => {
      if (event.position <= previous) ordered = false
      previous = event.position
      return n + 1
    }))
    const strata = { value: 0, ms: Number.POSITIVE_INFINITY }
    const subscription = { ms: Number.POSITIVE_INFINITY }
    const raw = { value: 0, ms: Number.POSITIVE_INFINITY }
    for (let pass = 0; pass < 3; pass++) {
      previous = 0n
      const read = yield* readAll
      strata.value = read.value
      strata.ms = Math.min(strata.ms, read.ms)
      const subscribed = yield* timed(
        Stream.runCount(Stream.take(store.subscribeAll({ from: "start" }), read.value))
      )
      subscription.ms = Math.min(subscription.ms, subscribed.ms)
      const floorRead = yield* timed(floor.readAll)
      raw.value = floorRead.value
      raw.ms = Math.min(raw.ms, floorRead.ms)
    }
    const total = strata.value
    const storeRate = total / (strata.ms / 1000)
    const subscriptionRate = total / (subscription.ms / 1000)
    const floorRate = raw.value / (raw.ms / 1000)
    return {
      storeEvents: total,
      floorEvents: raw.value,
      ordered,
      storeEventsPerSec: Math.round(storeRate),
      subscriptionEventsPerSec: Math.round(subscriptionRate),
      floorEventsPerSec: Math.round(floorRate),
      ratio: ratio(storeRate, floorRate),
      subscriptionToReadAll: ratio(subscriptionRate, storeRate)
    }
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** W5: live append -> delivery latency through a subscription, p50/p99 in ms. */
export const liveLatency = (count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const sent = new Map<string, number>()
    const latencies: Array<number> = []
    const category = `w5${Date.now()}`
    const subscriber = yield* store.subscribeAll({ from: "end", filter: { categories: [category] } }).pipe(
      Stream.take(count),
      Stream.runForEach((event) => Effect.sync(() => latencies.push(now() - sent.get(event.id)!))),
      Effect.forkChild
    )
    yield* Effect.sleep("200 millis")
    for (let i = 0; i < count; i++) {
      const event = Event.make("Ping", payload)
      sent.set(event.id, now())
      yield* store.append(`${category}-${i % 10}`, [event])
      yield* Effect.sleep("2 millis")
    }
    yield* Fiber.join(subscriber)
    const sorted = [...latencies].sort((a, b) => a - b)
    const round = (ms: number) => Math.round(ms * 100) / 100
    return {
      events: count,
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted[sorted.length - 1])
    }
  })

/** W6: eight writers on one stream with exact expected versions; checks contiguous versions. */
export const contendedWriters = (perWriter: number, writers = 8) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const stream = `w6-${Date.now()}`
    let conflicts = 0
    const run = yield* timed(Effect.forEach(Array.from({ length: writers }, (_, w) => w), (writer) =>
      Effect.gen(function*() {
        for (let i = 0; i < perWriter; i++) {
          for (;;) {
            const info = yield* store.streamInfo(stream)
            const expected = info.lastVersion === undefined
              ? ExpectedVersion.noStream
              : ExpectedVersion.exact(info.lastVersion)
            const result = yield* Effect.result(store.append(stream, [Event.make("Tick", { writer, i })], { expected }))
            if (result._tag === "Success") break
            if (result.failure._tag !== "WrongExpectedVersion") return yield* result.failure
            conflicts++
          }
        }
      }), { concurrency: writers, discard: true }))
    const events = yield* Stream.runCollect(store.read(stream))
    const total = writers * perWriter
    const contiguous = events.length === total && events.every((event, i) =>
      event.version === BigInt(i)
    )
    const ids = new Set(
      events.map((event) => `${(event.data as { writer: number }).writer}/${(event.data as { i: number }).i}`)
    )
    return {
      writers,
      events: events.length,
      contiguous,
      noLossNoDuplicates: ids.size === total,
      conflicts,
      appendsPerSec: Math.round(total / (run.ms / 1000))
    }
  })

/** Streams `count` seeded events through readAll and reports RSS growth. */
export const streamingMemory = (floor: Floor, count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const total = yield* floor.seedStore(count, payloadJson)
    globalThis.gc?.()
    const baseline = process.memoryUsage().rss
    let peak = baseline
    const run = yield* timed(Stream.runFold(store.readAll(), () => 0, (n) => {
      if (n % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().rss)
      return n + 1
    }))
    peak = Math.max(peak, process.memoryUsage().rss)
    return {
      events: run.value,
      complete: run.value === total,
      eventsPerSec: Math.round(run.value / (run.ms / 1000)),
      rssBaselineMb: Math.round(baseline / 2 ** 20),
      rssGrowthMb: Math.round((peak - baseline) / 2 ** 20)
    }
  })
