/**
 * Processing workloads: Groups (issue 23). Each entry is a named workload run by bench/run.ts after the
 * storage workloads, with its floors measured in the same run.
 *
 * `group`: 20,000 events over 500 streams; the same handler (one upsert per event through the
 * store's SqlClient, committed with the checkpoint, 100 events per checkpoint) run by one plain
 * `Consumer` (the floor), by `ConsumerGroup`s of 1, 2 and 4 members over 4 partitions (each member a
 * fiber of this process), and by `skip4`: what a group did before partition filters (4 consumers,
 * each reading the whole log and skipping other partitions' events). Interleaved rounds, contender
 * order rotated per round. Time = start to the last upsert committed. `rowsPerEvent`: events the
 * store delivered to the contender's subscriptions per event handled (counted by wrapping the
 * EventStore service in the bench, nothing in the product).
 */
import { Consumer, ConsumerGroup, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import type { Context, Workload } from "./Processing.ts"

const partitions = 4
const checkpointEvery = 100

const stats = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 100) / 100
  return { min: round(sorted[0]), median: round(sorted[Math.floor(sorted.length / 2)]), max: round(sorted.at(-1)!) }
}

const group = (context: Context) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    const total = context.quick ? 2_000 : 20_000
    const streams = context.quick ? 50 : 500
    const rounds = context.quick ? 1 : 3
    const category = `grp${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`
    const filter = { categories: [category] }
    yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS bench_group_counts (
      contender text NOT NULL, stream text NOT NULL, n integer NOT NULL, PRIMARY KEY (contender, stream))`)
    const pad = "x".repeat(300)
    for (let s = 0; s < streams; s++) {
      yield* store.append(
        `${category}-${s}`,
        Array.from({ length: total / streams }, (_, i) => ({ type: "Counted", data: { s, i, pad } }))
      )
    }

    // Runs `start` (forked members) until the contender's upserts reach `total`; events/s and rows/event.
    const measure = (key: string, start: (store: EventStore.EventStoreShape) => Effect.Effect<unknown, unknown, any>) =>
      Effect.gen(function*() {
        let delivered = 0
        const counting = EventStore.EventStore.of({
          ...store,
          subscribeAll: (options) => store.subscribeAll(options).pipe(Stream.tap(() => Effect.sync(() => delivered++)))
        })
        const began = performance.now()
        const fiber = yield* start(counting).pipe(
          Effect.provideService(EventStore.EventStore, counting),
          Effect.forkChild
        )
        for (;;) {
          const [row] = yield* sql<{ n: unknown }>`SELECT coalesce(sum(n), 0) AS n FROM bench_group_counts
            WHERE contender = ${key}`
          if (Number(row.n) >= total) break
          if (fiber.pollUnsafe() !== undefined) return yield* Effect.die(new Error(`${key} stopped early`))
          yield* Effect.sleep("20 millis")
        }
        const seconds = (performance.now() - began) / 1000
        yield* Fiber.interrupt(fiber)
        return { eventsPerSecond: total / seconds, rowsPerEvent: delivered / total }
      })

    const handler = (key: string) => (event: { readonly stream: string }) =>
      sql`INSERT INTO bench_group_counts (contender, stream, n) VALUES (${key}, ${event.stream}, 1)
        ON CONFLICT (contender, stream) DO UPDATE SET n = bench_group_counts.n + 1`.pipe(Effect.orDie)

    const contenders: Record<
      string,
      (key: string) => Effect.Effect<{ eventsPerSecond: number; rowsPerEvent: number }, unknown, any>
    > = {
      consumer: (key) =>
        measure(key, () => Consumer.run(key, { filter, from: "start", checkpointEvery, handler: handler(key) })),
      ...Object.fromEntries([1, 2, 4].map((members) => [
        `group${members}`,
        (key: string) =>
          measure(key, () =>
            Effect.forEach(
              Array.from({ length: members }, (_, m) => m),
              (m) =>
                ConsumerGroup.run(key, {
                  partitions,
                  member: `m${m}`,
                  filter,
                  from: "start",
                  checkpointEvery,
                  ttl: "3 seconds",
                  rebalanceEvery: "100 millis",
                  handler: handler(key)
                }),
              { concurrency: "unbounded", discard: true }
            ))
      ])),
      skip4: (key) =>
        measure(key, () =>
          Effect.forEach(
            Array.from({ length: partitions }, (_, p) => p),
            (p) =>
              Consumer.run(`${key}/${p}`, {
                filter,
                from: "start",
                checkpointEvery,
                handler: (event) =>
                  ConsumerGroup.partitionOf(event.stream, partitions) === p ? handler(key)(event) : Effect.void
              }),
            { concurrency: "unbounded", discard: true }
          ))
    }

    const names = Object.keys(contenders)
    const results: Record<string, Array<{ eventsPerSecond: number; rowsPerEvent: number }>> = {}
    for (let round = 0; round < rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length])
      for (const name of order) {
        const key = `${category}_${name}_${round}`
        const result = yield* contenders[name](key)
        ;(results[name] ??= []).push(result)
        process.stderr.write(`group round ${round} ${name}: ${Math.round(result.eventsPerSecond)} events/s\n`)
      }
    }
    const floor = results.consumer.map((r) => r.eventsPerSecond)
    return {
      events: total,
      streams,
      partitions,
      checkpointEvery,
      rounds,
      members: "fibers of this process (one Node thread); the database on the same 2 cores",
      ...Object.fromEntries(names.map((name) => [name, {
        eventsPerSecond: stats(results[name].map((r) => Math.round(r.eventsPerSecond))),
        // Against the plain consumer of the same round.
        ratio: stats(results[name].map((r, i) => r.eventsPerSecond / floor[i])),
        rowsPerEvent: stats(results[name].map((r) => r.rowsPerEvent))
      }]))
    }
  })

export const workloads: ReadonlyArray<Workload> = [
  {
    name: "group",
    run: (context) => context.backend === "postgres" || context.backend === "sqlite" ? group(context) : undefined
  }
]
