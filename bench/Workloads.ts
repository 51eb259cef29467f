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
 * keeps no stream table and sends no wake-up. Appends are handed the JSON of the same objects the
 * store is given, serialised inside the timed call (the store must serialise too); reads parse the
 * JSON they return, as a store must.
 */
export interface Floor {
  /**
   * One round trip: check the stream is at `expected` (-1 = new) and insert one event per payload.
   * Each event's JSON is sent, as the store must send it (not one payload copied on the server).
   * Returns undefined when written, else the stream's actual last version (-1: none), learnt in the
   * same round trip where the statement can (a lost race to the unique index costs a re-read).
   */
  readonly append: (
    stream: string,
    expected: number,
    payloads: ReadonlyArray<string>
  ) => Effect.Effect<number | undefined, unknown>
  /**
   * The same statement into a table that also has the indexes the store's reads and checks need
   * (unique event id, type and category with position): what the schema alone costs, no Strata code.
   */
  readonly appendIndexed: (
    stream: string,
    expected: number,
    payloads: ReadonlyArray<string>
  ) => Effect.Effect<number | undefined, unknown>
  /**
   * Where the database has no one-statement append (SQLite): the same work as the store, by hand, on
   * a copy of the store's schema (read the stream row, check, insert the events, move the row, in one
   * transaction, prepared statements). The store's per-call code is what separates the two.
   */
  readonly appendSameWork?: (
    stream: string,
    expected: number,
    payloads: ReadonlyArray<string>
  ) => Effect.Effect<number | undefined, unknown>
  /** Reads one stream in version order, paged, parsing data and metadata; returns the number of events. */
  readonly readStream: (stream: string) => Effect.Effect<number, unknown>
  /** Reads everything in global order, paged, parsing data and metadata; returns the number of events. */
  readonly readAll: Effect.Effect<number, unknown>
  /**
   * The same two reads with rows as arrays of values instead of objects (what the store asks its
   * driver for): the fastest a hand-written reader gets, reported beside the object floor. SQL only.
   */
  readonly readStreamValues?: (stream: string) => Effect.Effect<number, unknown>
  readonly readAllValues?: Effect.Effect<number, unknown>
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

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

const round2 = (n: number) => Math.round(n * 100) / 100

/** The median and the range of per-round ratios. */
const spread = (ratios: ReadonlyArray<number>) => {
  const sorted = [...ratios].sort((a, b) => a - b)
  return {
    median: Math.round(percentile(sorted, 50) * 1000) / 1000,
    min: Math.round(sorted[0] * 1000) / 1000,
    max: Math.round(sorted[sorted.length - 1] * 1000) / 1000
  }
}

// Each contender runs once per round, in an order rotated every round, so none always runs on the
// warmer (or more bloated) table or right after the noisiest neighbour.
const rotations = <A>(names: ReadonlyArray<A>, rounds: number) =>
  Array.from({ length: rounds }, (_, round) => names.map((_, i) => names[(i + round) % names.length]))

interface Contender {
  readonly append: (stream: string, expected: number, i: number) => Effect.Effect<unknown, unknown>
}

/**
 * W1/W2: appends of `size` events, to fresh streams (`existing: false`) or to existing streams with
 * exact expected versions (64 streams per round and contender, each owned by one worker), for the
 * store and each floor. Per contender: appends/s over its total time, latency p50/p99, CPU per append
 * (`process.cpuUsage`, this process: the client side), and the store's ratio to each floor with its
 * median and range over rounds.
 */
export const appends = (
  floor: Floor,
  options: { total: number; concurrency: number; size: number; tag: string; existing?: boolean; rounds?: number }
) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const events = () => Array.from({ length: options.size }, () => Event.make("OrderPlaced", payload))
    // Serialised inside the timed call, as the store serialises what it is handed: the same work.
    const payloads = () => Array.from({ length: options.size }, () => JSON.stringify(payload))
    const rounds = options.rounds ?? 4
    const perRound = Math.ceil(options.total / rounds)
    const existing = options.existing === true
    const streamsPerRound = existing ? 64 : perRound
    const contenders: Record<string, Contender> = {
      store: {
        append: (stream, expected) =>
          store.append(stream, events(), {
            expected: expected < 0 ? ExpectedVersion.noStream : ExpectedVersion.exact(BigInt(expected))
          })
      },
      floor: { append: (stream, expected) => floor.append(stream, expected, payloads()) },
      indexed: { append: (stream, expected) => floor.appendIndexed(stream, expected, payloads()) }
    }
    if (floor.appendSameWork !== undefined) {
      const sameWork = floor.appendSameWork
      contenders.sameWork = { append: (stream, expected) => sameWork(stream, expected, payloads()) }
    }
    const names = Object.keys(contenders)
    const stats = Object.fromEntries(names.map((name) => [name, {
      ms: 0,
      cpuUs: 0,
      latencies: [] as Array<number>,
      roundMs: [] as Array<number>
    }]))
    const check = (name: string, stream: string) => (outcome: unknown) =>
      outcome === undefined || typeof outcome !== "number"
        ? Effect.void
        : Effect.die(new Error(`${name}: unexpected conflict on ${stream} (at ${outcome})`))
    for (const [round, order] of rotations(names, rounds).entries()) {
      for (const name of order) {
        const contender = contenders[name]
        const versions = new Map<string, number>()
        const stat = stats[name]
        // Existing streams: created before the timed part, outside it.
        if (existing) {
          for (let s = 0; s < streamsPerRound; s++) {
            const stream = `${options.tag}${name}-${round}-${s}`
            yield* contender.append(stream, -1, -1)
            versions.set(stream, options.size - 1)
          }
        }
        const cpu = process.cpuUsage()
        const run = yield* timed(runConcurrently(perRound, options.concurrency, (i) => {
          const stream = `${options.tag}${name}-${round}-${i % streamsPerRound}`
          const expected = versions.get(stream) ?? -1
          const start = now()
          return contender.append(stream, expected, i).pipe(
            Effect.tap(check(name, stream)),
            Effect.tap(() =>
              Effect.sync(() => {
                stat.latencies.push(now() - start)
                versions.set(stream, expected + options.size)
              })
            ),
            Effect.asVoid
          )
        }))
        const used = process.cpuUsage(cpu)
        stat.ms += run.ms
        stat.roundMs.push(run.ms)
        stat.cpuUs += used.user + used.system
      }
    }
    const total = perRound * rounds
    const rate = (name: string) => total / (stats[name].ms / 1000)
    const summary = (name: string) => {
      const sorted = [...stats[name].latencies].sort((a, b) => a - b)
      return {
        appendsPerSec: Math.round(rate(name)),
        p50Ms: round2(percentile(sorted, 50)),
        p99Ms: round2(percentile(sorted, 99)),
        cpuUsPerAppend: Math.round(stats[name].cpuUs / total)
      }
    }
    // Per round, the store's rate over a floor's (time ratio inverted): the spread of the ratio.
    const against = (name: string) => ({
      ratio: ratio(rate("store"), rate(name)),
      rounds: spread(stats.store.roundMs.map((ms, i) => stats[name].roundMs[i] / ms))
    })
    return {
      appends: total,
      concurrency: options.concurrency,
      eventsPerAppend: options.size,
      streams: existing ? "existing, exact versions" : "new",
      ...Object.fromEntries(names.map((name) => [name, summary(name)])),
      storeToFloor: against("floor"),
      storeToIndexedFloor: against("indexed"),
      ...(contenders.sameWork === undefined ? {} : { storeToSameWork: against("sameWork") }),
      // What the store's indexes alone cost the floor.
      indexedFloorToFloor: ratio(rate("indexed"), rate("floor")),
      storeP99ToIndexedFloorP99: ratio(summary("store").p99Ms, summary("indexed").p99Ms)
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
    const values = { count: 0, ms: Number.POSITIVE_INFINITY }
    for (let pass = 0; pass < 8; pass++) {
      const storeRun = yield* timed(Stream.runCount(store.read("w3s-long")))
      const floorRun = yield* timed(floor.readStream("w3f-long"))
      const valuesRun = yield* timed(floor.readStreamValues?.("w3f-long") ?? Effect.succeed(events))
      strata.count = storeRun.value
      raw.count = floorRun.value
      values.count = valuesRun.value
      if (pass === 0) continue
      strata.ms = Math.min(strata.ms, storeRun.ms)
      raw.ms = Math.min(raw.ms, floorRun.ms)
      values.ms = Math.min(values.ms, valuesRun.ms)
    }
    const storeRate = strata.count / (strata.ms / 1000)
    const floorRate = raw.count / (raw.ms / 1000)
    const valuesRate = values.count / (values.ms / 1000)
    return {
      events: strata.count,
      complete: strata.count === events && raw.count === events && values.count === events,
      storeEventsPerSec: Math.round(storeRate),
      floorEventsPerSec: Math.round(floorRate),
      ratio: ratio(storeRate, floorRate),
      ...(floor.readStreamValues === undefined ? {} : {
        valuesFloorEventsPerSec: Math.round(valuesRate),
        ratioToValuesFloor: ratio(storeRate, valuesRate)
      })
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
    const values = { value: 0, ms: Number.POSITIVE_INFINITY }
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
      const valuesRead = yield* timed(floor.readAllValues ?? Effect.succeed(raw.value))
      values.value = valuesRead.value
      values.ms = Math.min(values.ms, valuesRead.ms)
    }
    const total = strata.value
    const storeRate = total / (strata.ms / 1000)
    const subscriptionRate = total / (subscription.ms / 1000)
    const floorRate = raw.value / (raw.ms / 1000)
    const valuesRate = values.value / (values.ms / 1000)
    return {
      storeEvents: total,
      floorEvents: raw.value,
      ordered,
      storeEventsPerSec: Math.round(storeRate),
      subscriptionEventsPerSec: Math.round(subscriptionRate),
      floorEventsPerSec: Math.round(floorRate),
      ratio: ratio(storeRate, floorRate),
      ...(floor.readAllValues === undefined ? {} : {
        valuesFloorEvents: values.value,
        valuesFloorEventsPerSec: Math.round(valuesRate),
        ratioToValuesFloor: ratio(storeRate, valuesRate)
      }),
      subscriptionToReadAll: ratio(subscriptionRate, storeRate)
    }
  })

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

/**
 * W6: eight writers on one stream with exact expected versions, store and floor in alternating
 * rounds. A writer appends at the version it last learnt; a conflict tells it the actual version
 * (the store's `WrongExpectedVersion.actual`, the floor's returned head) and it tries again there.
 * Attempts per second is the conflict path's throughput, against the floor and, where the backend
 * has one, the same-work floor (the store's own statements by hand); the store's log is checked
 * contiguous, with every event exactly once.
 */
export const contendedWriters = (floor: Floor | undefined, perWriter: number, writers = 8, rounds = 4) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const tag = `w6-${Date.now()}`
    type Attempt = (
      stream: string,
      expected: number,
      writer: number,
      i: number
    ) => Effect.Effect<number | undefined, unknown>
    const storeAttempt: Attempt = (stream, expected, writer, i) =>
      store.append(stream, [Event.make("Tick", { writer, i })], {
        expected: expected < 0 ? ExpectedVersion.noStream : ExpectedVersion.exact(BigInt(expected))
      }).pipe(
        Effect.as(undefined),
        Effect.catchTag("WrongExpectedVersion", (error) =>
          error.actual !== undefined
            ? Effect.succeed(Number(error.actual))
            // The store did not say: ask (a second round trip, counted in the time).
            : Effect.map(store.streamInfo(stream), (info) => Number(info.lastVersion ?? -1n)))
      )
    // Without a floor (the memory backend), the store alone: correctness and attempts/s, no ratio.
    const contenders: Record<string, Attempt> = { store: storeAttempt }
    if (floor !== undefined) {
      contenders.floor = (stream, expected, writer, i) =>
        floor.append(stream, expected, [JSON.stringify({ writer, i })])
      const sameWork = floor.appendSameWork
      if (sameWork !== undefined) {
        contenders.sameWork = (stream, expected, writer, i) =>
          sameWork(stream, expected, [JSON.stringify({ writer, i })])
      }
    }
    const names = Object.keys(contenders)
    const stats = Object.fromEntries(
      names.map((
        name
      ) => [name, { ms: 0, attempts: 0, roundMs: [] as Array<number>, roundAttempts: [] as Array<number> }])
    )
    let contiguous = true
    let noLossNoDuplicates = true
    for (const [round, order] of rotations(names, rounds).entries()) {
      for (const name of order) {
        const stream = `${tag}-${name}-${round}`
        const attempt = contenders[name]
        let attempts = 0
        let known = -1
        const run = yield* timed(
          Effect.forEach(Array.from({ length: writers }, (_, w) => w), (writer) =>
            Effect.gen(function*() {
              let expected = known
              for (let i = 0; i < perWriter; i++) {
                for (;;) {
                  attempts++
                  const actual = yield* attempt(stream, expected, writer, i)
                  if (actual === undefined) {
                    expected = expected + 1
                    known = Math.max(known, expected)
                    break
                  }
                  expected = actual
                }
              }
            }), { concurrency: writers, discard: true })
        )
        stats[name].ms += run.ms
        stats[name].attempts += attempts
        stats[name].roundMs.push(run.ms)
        stats[name].roundAttempts.push(attempts)
        if (name === "store") {
          const events = yield* Stream.runCollect(store.read(stream))
          const total = writers * perWriter
          if (
            events.length !== total || !events.every((event, i) => event.version === BigInt(i))
          ) contiguous = false
          const ids = new Set(events.map((event) => {
            const data = event.data as { writer: number; i: number }
            return `${data.writer}/${data.i}`
          }))
          if (ids.size !== total) noLossNoDuplicates = false
        }
      }
    }
    const rate = (name: string) => stats[name].attempts / (stats[name].ms / 1000)
    const roundRate = (name: string, i: number) => stats[name].roundAttempts[i] / stats[name].roundMs[i]
    const against = (name: string) => ({
      [`${name}Attempts`]: stats[name].attempts,
      [`${name}AttemptsPerSec`]: Math.round(rate(name)),
      [`${name}AppendsPerSec`]: Math.round((writers * perWriter * rounds) / (stats[name].ms / 1000)),
      [`attemptsRatioTo${name === "floor" ? "Floor" : "SameWork"}`]: ratio(rate("store"), rate(name)),
      [`rounds${name === "floor" ? "" : "SameWork"}`]: spread(
        stats.store.roundMs.map((_, i) => roundRate("store", i) / roundRate(name, i))
      )
    })
    return {
      writers,
      eventsPerRound: writers * perWriter,
      contiguous,
      noLossNoDuplicates,
      storeAttempts: stats.store.attempts,
      storeAttemptsPerSec: Math.round(rate("store")),
      storeAppendsPerSec: Math.round((writers * perWriter * rounds) / (stats.store.ms / 1000)),
      ...(contenders.floor === undefined ? {} : against("floor")),
      ...(contenders.sameWork === undefined ? {} : against("sameWork"))
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

/**
 * The price of a durability setting: one-event appends at concurrency 1 through two stores that
 * differ only in it, in alternating rounds, with latency percentiles.
 */
export const durability = (
  stores: Record<string, EventStore.EventStoreShape>,
  total: number,
  rounds = 4
) =>
  Effect.gen(function*() {
    const names = Object.keys(stores)
    const stats = Object.fromEntries(names.map((name) => [name, { ms: 0, latencies: [] as Array<number> }]))
    const perRound = Math.ceil(total / rounds)
    for (const [round, order] of rotations(names, rounds).entries()) {
      for (const name of order) {
        const run = yield* timed(Effect.gen(function*() {
          for (let i = 0; i < perRound; i++) {
            const start = now()
            yield* stores[name].append(`dur-${round}-${i}`, [Event.make("OrderPlaced", payload)])
            stats[name].latencies.push(now() - start)
          }
        }))
        stats[name].ms += run.ms
      }
    }
    return Object.fromEntries(names.map((name) => {
      const sorted = [...stats[name].latencies].sort((a, b) => a - b)
      return [name, {
        appendsPerSec: Math.round((perRound * rounds) / (stats[name].ms / 1000)),
        p50Ms: round2(percentile(sorted, 50)),
        p99Ms: round2(percentile(sorted, 99))
      }]
    }))
  })
