/**
 * The replica bench (issue 27; not part of `npm test` or `npm run bench`): a PostgreSQL 15 primary with
 * two hot standbys (system binaries, streaming replication, started here: packages/postgres/test/replica/cluster.ts).
 *
 *   node --conditions=@strata/source --expose-gc bench/replicas.ts [--events 20000] [--rounds 5] [--appends 1500]
 *
 * Interleaved rounds, each figure a ratio within its round, reported as median and [min, max]:
 * - catch-up: `readAll` of every event from a standby vs from the primary (events/s);
 * - point reads: `read` of a 10-event stream, from a standby (fenced: one primary round trip, then the
 *   standby) vs from the primary (mean latency);
 * - the settled-position publisher's cost on the plain append path: W1_c1 and W1_c8 (one-event appends
 *   to new streams, 1 and 8 fibers) through the store that publishes (it has replicas) vs one that does not;
 * - the primary's append throughput (W1_c8) while 4 readers repeatedly read the last 2,000 events: with
 *   the readers on the primary (0 replicas serving), all on standby 0 (1), split over both (2), each vs
 *   the same appends with no readers.
 * One JSON object on stdout. All servers share this machine's cores: moving readers to standbys on the same
 * machine moves their CPU, it does not add any.
 */
import { EventStore } from "@strata/core"
import { PgReplica, PgStore } from "@strata/postgres"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Os from "node:os"
import { parseArgs } from "node:util"
import * as Cluster from "../packages/postgres/test/replica/cluster.ts"

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    appends: { type: "string", default: "1500" }
  }
})
const eventCount = Number(values.events)
const rounds = Number(values.rounds)
const appendCount = Number(values.appends)
const payload = { text: "x".repeat(280), n: 0 }

const summary = (ratios: ReadonlyArray<number>) => {
  const sorted = [...ratios].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 1000) / 1000
  return {
    median: round(sorted[Math.floor(sorted.length / 2)]!),
    min: round(sorted[0]!),
    max: round(sorted[sorted.length - 1]!),
    rounds: ratios.map(round)
  }
}

const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const value = yield* effect
    return { value, millis: performance.now() - start }
  })

const program = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const cluster = yield* Cluster.start({ standbys: 2 }).pipe(Scope.provide(scope))
  const build = <A>(layer: Layer.Layer<A, unknown>) => Layer.buildWithScope(layer, scope)
  const replicated = yield* build(PgStore.layer({
    url: Redacted.make(cluster.primaryUrl),
    replicas: cluster.standbyUrls.map((url) => Redacted.make(url)),
    replicaTimeout: "30 seconds"
  }))
  const silent = yield* build(PgStore.layer({ url: Redacted.make(cluster.primaryUrl), publishSettled: false }))
  const store = Context.get(replicated, EventStore.EventStore)
  const quiet = Context.get(silent, EventStore.EventStore)
  const replicas = Context.get(replicated, PgReplica.Replicas)

  // Seed the catch-up material: one category, 100-event appends.
  const category = `bench${Date.now()}`
  for (let i = 0; i < eventCount; i += 100) {
    yield* store.append(
      `${category}-${i}`,
      Array.from({ length: 100 }, (_, n) => ({ type: "Seeded", data: { ...payload, n } }))
    )
  }
  const last = yield* store.append(
    `${category}-point`,
    Array.from({ length: 10 }, (_, n) => ({ type: "Point", data: { ...payload, n } }))
  )
  yield* replicas.waitFor(last.position, { timeout: "60 seconds" })

  const readAllOn = (consistency: PgReplica.Consistency) =>
    store.readAll({ filter: { categories: [category] } }).pipe(
      Stream.provideService(PgReplica.Consistency, consistency),
      Stream.runCount
    )
  const pointReads = (consistency: PgReplica.Consistency) =>
    Effect.forEach(
      Array.from({ length: 200 }),
      () =>
        store.read(`${category}-point`).pipe(
          Stream.provideService(PgReplica.Consistency, consistency),
          Stream.runCount
        ),
      { discard: true }
    )
  const appends = (on: EventStore.EventStore["Service"], concurrency: number, count: number) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => on.append(`w1-${crypto.randomUUID()}`, [{ type: "W1", data: { ...payload, n: i } }]),
      { concurrency, discard: true }
    )
  const perSecond = (count: number, millis: number) => (count * 1000) / millis

  // Readers: each reads the last 2,000 events in a loop, from the primary or one standby's store.
  const readers = (targets: ReadonlyArray<"primary" | number>) =>
    Effect.forEach(targets, (target) =>
      Effect.forkChild(Effect.forever(Effect.gen(function*() {
        const from = last.position > 2000n ? last.position - 2000n : 0n
        const source = target === "primary" ? quiet : replicas.replicas[target]!.store.eventStore
        yield* source.readAll({ from }).pipe(Stream.runDrain)
      }))))

  const catchUp: Array<number> = []
  const point: Array<number> = []
  const publishC1: Array<number> = []
  const publishC8: Array<number> = []
  const serving: Record<"0" | "1" | "2", Array<number>> = { "0": [], "1": [], "2": [] }
  const raw: Array<Record<string, number>> = []
  for (let r = 0; r < rounds; r++) {
    const row: Record<string, number> = {}
    // Alternate which side goes first in each pair.
    const pair = <A>(first: () => Effect.Effect<A, unknown>, second: () => Effect.Effect<A, unknown>) =>
      r % 2 === 0
        ? Effect.all([timed(first()), timed(second())])
        : Effect.map(Effect.all([timed(second()), timed(first())]), ([b, a]) => [a, b] as const)
    const [primaryRead, replicaRead] = yield* pair(() => readAllOn("primary"), () => readAllOn("replica"))
    row.catchUpPrimaryPerSec = perSecond(primaryRead.value, primaryRead.millis)
    row.catchUpReplicaPerSec = perSecond(replicaRead.value, replicaRead.millis)
    catchUp.push(row.catchUpReplicaPerSec / row.catchUpPrimaryPerSec)
    const [primaryPoint, replicaPoint] = yield* pair(() => pointReads("primary"), () => pointReads("replica"))
    row.pointPrimaryMs = primaryPoint.millis / 200
    row.pointReplicaMs = replicaPoint.millis / 200
    point.push(row.pointReplicaMs / row.pointPrimaryMs)
    for (const [concurrency, into] of [[1, publishC1], [8, publishC8]] as const) {
      const count = concurrency === 1 ? Math.floor(appendCount / 3) : appendCount
      const [on, off] = yield* pair(() => appends(store, concurrency, count), () => appends(quiet, concurrency, count))
      row[`w1c${concurrency}PublishOnPerSec`] = perSecond(count, on.millis)
      row[`w1c${concurrency}PublishOffPerSec`] = perSecond(count, off.millis)
      into.push(off.millis / on.millis)
    }
    for (
      const [k, targets] of [["0", ["primary", "primary", "primary", "primary"]], ["1", [0, 0, 0, 0]], ["2", [
        0,
        1,
        0,
        1
      ]]] as const
    ) {
      const alone = yield* timed(appends(quiet, 8, appendCount))
      const fibers = yield* readers(targets)
      yield* Effect.sleep("200 millis")
      const loaded = yield* timed(appends(quiet, 8, appendCount))
      yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
      row[`appendsWithReaders${k}PerSec`] = perSecond(appendCount, loaded.millis)
      row[`appendsNoReaders${k}PerSec`] = perSecond(appendCount, alone.millis)
      serving[k].push(alone.millis / loaded.millis)
    }
    raw.push(Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Math.round(value * 10) / 10])))
  }
  const lag = yield* replicas.lag
  yield* Scope.close(scope, Exit.void)
  return {
    machine: { cores: Os.cpus().length },
    events: eventCount,
    rounds,
    catchUpReplicaVsPrimary: summary(catchUp),
    pointReadLatencyReplicaVsPrimary: summary(point),
    w1c1PublishOnVsOff: summary(publishC1),
    w1c8PublishOnVsOff: summary(publishC8),
    appendsWithReadersVsNone: {
      replicasServing0: summary(serving["0"]),
      replicasServing1: summary(serving["1"]),
      replicasServing2: summary(serving["2"])
    },
    lagAtEnd: lag.map((l) => ({
      replica: l.replica,
      positions: Number(l.positions),
      bytes: Number(l.bytes),
      seconds: l.seconds
    })),
    raw
  }
})

Effect.runPromise(program).then(
  (result) => console.log(JSON.stringify(result, null, 2)),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
