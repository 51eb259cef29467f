/**
 * Processing workloads: Projections (issue 23). Each entry is a named workload run by bench/run.ts after the
 * storage workloads, with its floors measured in the same run.
 *
 * - `projection`: 20,000 events over 500 streams, a per-stream count document. Contenders, interleaved over
 *   rotated rounds: the bulk floor by hand (per batch of 1,000: read the events, one set-based upsert into a
 *   table shaped like strata_documents, a checkpoint row, one transaction), Strata `Projection.catchUp`
 *   (batched), Strata `Projection.run`'s consumer (handleBatch per consumer batch, the defaults), and Strata
 *   per event (`projection.handler` through `Consumer.run`, checkpoint every 1,000). The floor reads the
 *   whole envelope and parses data and metadata, as a store must; `floorLean` reads only stream and data
 *   (the first round's floor), reported beside it. Wall-time ratios per round and client CPU per event.
 * - `inlineProjection`: one-event appends at concurrency 1 to stores with and without an inline projection.
 * - `rebuild1M`: `Projection.rebuild` over 1,000,000 seeded events, time and memory growth; runs only when
 *   named in `--only` (it is long).
 */
import { Consumer, DocumentStore, EventCodec, EventStore, Projection, Store } from "@strata/core"
import { PgStore } from "@strata/postgres"
import { SqliteStore } from "@strata/sqlite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { performance } from "node:perf_hooks"
import * as v8 from "node:v8"
import { collectGarbage, samplePeaks } from "./Memory.ts"
import type { Workload } from "./Processing.ts"
import * as W from "./Workloads.ts"

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits

const spread = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { min: round(sorted[0]), median: round(sorted[Math.floor(sorted.length / 2)]), max: round(sorted.at(-1)!) }
}

const rotations = <A>(names: ReadonlyArray<A>, rounds: number) =>
  Array.from({ length: rounds }, (_, r) => names.map((_, i) => names[(i + r) % names.length]))

const Count = Schema.Struct({ count: Schema.Number })

const domain = (tag: string) => {
  const Happened = EventCodec.type(`ProjBench${tag}`, { schema: Schema.Struct({ n: Schema.Number }) })
  const codec = EventCodec.make([Happened])
  const projection = (name: string) =>
    Projection.singleStream({
      name,
      collection: DocumentStore.collection(name, Count),
      events: codec,
      evolve: (current) => ({ count: (current?.count ?? 0) + 1 })
    })
  return { Happened, codec, projection }
}

// The bulk floor: per batch of 1,000 events, one read, one set-based upsert, one checkpoint row, one commit.
// The upsert merges in SQL (count + n): it never reads the documents back, which a projection with an
// arbitrary `evolve` must (one getMany per batch), so it is a floor below what any store can reach.
const floorProjection = (type: string, table: string, batch: number, lean = false) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const jsonType = sql.onDialectOrElse({ pg: () => "jsonb", orElse: () => "TEXT" })
    yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${table} (collection TEXT NOT NULL, id TEXT NOT NULL,
      version BIGINT NOT NULL, data ${jsonType} NOT NULL, PRIMARY KEY (collection, id))`)
    yield* sql.unsafe(
      `CREATE TABLE IF NOT EXISTS bench_projection_checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL)`
    )
    const merge = sql.onDialectOrElse({
      pg: () => `jsonb_build_object('count', (${table}.data->>'count')::int + (excluded.data->>'count')::int)`,
      orElse: () =>
        `json_object('count', json_extract(${table}.data, '$.count') + json_extract(excluded.data, '$.count'))`
    })
    const doc = (json: string) => sql.onDialectOrElse({ pg: () => sql`${json}::jsonb`, orElse: () => sql`${json}` })
    let after = 0n
    let handled = 0
    for (;;) {
      // The events as a store hands them to a projection: the whole envelope (a decoder needs the
      // metadata's schemaVersion, a failure names the event's id), data and metadata parsed. The lean
      // floor reads only what this count needs (position, stream, data).
      // (The envelope is read as value arrays, as the store reads events: no property names per row.)
      const rows: ReadonlyArray<{ position: unknown; stream: string; data: unknown }> = lean
        ? yield* sql<{ position: unknown; stream: string; data: unknown }>`SELECT position, stream, data
        FROM strata_events WHERE type = ${type} AND position > ${after} ORDER BY position LIMIT ${batch}`
        : (yield* sql`SELECT position, event_id, stream, version, type, data, metadata, created_at
        FROM strata_events WHERE type = ${type} AND position > ${after} ORDER BY position LIMIT ${batch}`.values)
          .map((row) => {
            if (typeof row[6] === "string") JSON.parse(row[6])
            return { position: row[0], stream: row[2] as string, data: row[5] }
          })
      if (rows.length === 0) return handled
      const counts = new Map<string, number>()
      for (const row of rows) {
        const data = (typeof row.data === "string" ? JSON.parse(row.data) : row.data) as { n: number }
        if (typeof data.n === "number") counts.set(row.stream, (counts.get(row.stream) ?? 0) + 1)
      }
      const last = BigInt(rows[rows.length - 1].position as string | bigint)
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO ${sql(table)} (collection, id, version, data) VALUES ${
          sql.join(", ", false)(
            [...counts].map(([id, n]) => sql`('c', ${id}, 1, ${doc(JSON.stringify({ count: n }))})`)
          )
        } ON CONFLICT (collection, id) DO UPDATE SET version = ${sql(table)}.version + 1, data = ${sql.literal(merge)}`
        yield* sql`INSERT INTO bench_projection_checkpoints (name, position) VALUES (${table}, ${last})
          ON CONFLICT (name) DO UPDATE SET position = excluded.position`
      }))
      after = last
      handled += rows.length
    }
  })

const floorTotal = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ data: unknown }>`SELECT data FROM ${sql(table)}`,
      (rows) =>
        rows.reduce(
          (sum, row) =>
            sum + (typeof row.data === "string" ? JSON.parse(row.data) : row.data as { count: number }).count,
          0
        )
    ))

const strataTotal = (collection: DocumentStore.Collection<{ readonly count: number }, unknown>) =>
  Effect.flatMap(
    DocumentStore.DocumentStore,
    (docs) => Stream.runFold(docs.find(collection), () => 0, (sum, document) => sum + document.value.count)
  )

/** (a) Batched catch-up and the per-event path against the bulk floor, rounds interleaved and rotated. */
const projection = (quick: boolean) =>
  Effect.gen(function*() {
    const streams = quick ? 100 : 500
    const perStream = 40
    const total = streams * perStream
    const rounds = 3
    const tag = Math.random().toString(36).slice(2, 8)
    const { Happened, codec, projection } = domain(tag)
    for (let s = 0; s < streams; s++) {
      yield* codec.append(`pb${tag}-${s}`, Array.from({ length: perStream }, (_, n) => Happened.make({ n })))
    }
    const store = yield* EventStore.EventStore
    const log = yield* Stream.runCollect(store.readAll({ filter: { types: codec.types } }))
    const lastPosition = log[log.length - 1].position
    type Name = "floor" | "floorLean" | "batched" | "run" | "perEvent"
    // Projection.run (a consumer with handleBatch) and the per-event handler run until their checkpoint
    // reaches the last event (polled every 2 ms).
    const consumed = (p: ReturnType<typeof projection>, running: Effect.Effect<void, unknown, any>) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(running)
        const checkpoints = yield* Consumer.Checkpoints
        while (Option.getOrElse(yield* checkpoints.load(p.checkpoint), () => 0n) < lastPosition) {
          yield* Effect.sleep("2 millis")
        }
        yield* Fiber.interrupt(fiber)
        return yield* strataTotal(p.target)
      })
    const run: Record<Name, (r: number) => Effect.Effect<number, unknown, any>> = {
      floor: (r) =>
        Effect.andThen(
          floorProjection(`ProjBench${tag}`, `bench_projection_${tag}_${r + 1}`, 1000),
          floorTotal(`bench_projection_${tag}_${r + 1}`)
        ),
      floorLean: (r) =>
        Effect.andThen(
          floorProjection(`ProjBench${tag}`, `bench_projection_${tag}_lean_${r + 1}`, 1000, true),
          floorTotal(`bench_projection_${tag}_lean_${r + 1}`)
        ),
      batched: (r) => {
        const p = projection(`pb_${tag}_batched_${r + 1}`)
        return Effect.andThen(Projection.catchUp(p, { batchSize: 1000 }), strataTotal(p.target))
      },
      run: (r) => {
        const p = projection(`pb_${tag}_run_${r + 1}`)
        return consumed(p, Projection.run(p))
      },
      perEvent: (r) => {
        const p = projection(`pb_${tag}_event_${r + 1}`)
        return consumed(p, Consumer.run(p.checkpoint, { handler: p.handler, filter: p.filter, checkpointEvery: 1000 }))
      }
    }
    const names: ReadonlyArray<Name> = ["floor", "floorLean", "batched", "run", "perEvent"]
    const rates = Object.fromEntries(names.map((name) => [name, [] as Array<number>])) as Record<Name, Array<number>>
    // Client CPU per event (the process's user + system time: on a loaded machine steadier than wall time).
    const cpu = Object.fromEntries(names.map((name) => [name, [] as Array<number>])) as Record<Name, Array<number>>
    const ratios = { batched: [] as Array<number>, run: [] as Array<number>, perEvent: [] as Array<number> }
    const leanRatios = { batched: [] as Array<number>, run: [] as Array<number> }
    const order = rotations<Name>(names, rounds)
    // Untimed: JIT and the tables' first pages, for every contender.
    for (const name of order[0]) yield* run[name](-1)
    for (let r = 0; r < rounds; r++) {
      const perRound: Partial<Record<Name, number>> = {}
      for (const name of order[r]) {
        const start = performance.now()
        const used = process.cpuUsage()
        const counted = yield* run[name](r)
        const seconds = (performance.now() - start) / 1000
        const { system, user } = process.cpuUsage(used)
        if (counted !== total) return yield* Effect.die(new Error(`${name} counted ${counted} of ${total} events`))
        perRound[name] = total / seconds
        rates[name].push(total / seconds)
        cpu[name].push((user + system) / total)
      }
      ratios.batched.push(perRound.batched! / perRound.floor!)
      ratios.run.push(perRound.run! / perRound.floor!)
      ratios.perEvent.push(perRound.perEvent! / perRound.floor!)
      leanRatios.batched.push(perRound.batched! / perRound.floorLean!)
      leanRatios.run.push(perRound.run! / perRound.floorLean!)
    }
    const eps = (values: ReadonlyArray<number>) => {
      const s = spread(values)
      return { min: Math.round(s.min), median: Math.round(s.median), max: Math.round(s.max) }
    }
    return {
      events: total,
      streams,
      rounds,
      eventsPerSecond: Object.fromEntries(names.map((name) => [name, eps(rates[name])])),
      cpuMicrosPerEvent: Object.fromEntries(names.map((name) => [name, spread(cpu[name])])),
      vsBulkFloor: { batched: spread(ratios.batched), run: spread(ratios.run), perEvent: spread(ratios.perEvent) },
      vsLeanFloor: { batched: spread(leanRatios.batched), run: spread(leanRatios.run) }
    }
  })

/** (b) One-event appends at concurrency 1 to a store without and one with an inline projection. */
const inlineProjection = (backend: string, quick: boolean) =>
  Effect.gen(function*() {
    const tag = Math.random().toString(36).slice(2, 8)
    const { Happened, codec, projection } = domain(tag)
    const inline = projection(`pb_${tag}_inline`)
    const context = yield* Effect.context<SqlClient.SqlClient>()
    // Both contenders are built the same way over the bench's client; only the projection differs.
    const storeWith = (projections: ReadonlyArray<Projection.Any>) =>
      Layer.build(
        Store.layer(
          backend === "postgres"
            ? (PgStore.layerFromClient({ projections }) as Layer.Layer<Store.Services, unknown, SqlClient.SqlClient>)
            : SqliteStore.layerFromClient({ projections })
        )
      ).pipe(Effect.provide(context))
    const plain = Context.get(yield* storeWith([]), EventStore.EventStore)
    const projected = Context.get(yield* storeWith([inline]), EventStore.EventStore)
    // A projection of another event type: the append's transactional path, without document work.
    const idle = Context.get(yield* storeWith([domain(`${tag}x`).projection(`pb_${tag}_idle`)]), EventStore.EventStore)
    const appends = quick ? 200 : 1000
    const rounds = 3
    const event = Happened.make({ n: 1 })
    const time = (store: typeof plain, label: string) =>
      Effect.gen(function*() {
        const start = performance.now()
        const cpu = process.cpuUsage()
        for (let i = 0; i < appends; i++) {
          yield* codec.append(`pi${tag}-${label}-${i % 50}`, [event]).pipe(
            Effect.provideService(EventStore.EventStore, store)
          )
        }
        const used = process.cpuUsage(cpu)
        return { us: ((performance.now() - start) * 1000) / appends, cpuUs: (used.user + used.system) / appends }
      })
    yield* time(plain, "warm-a")
    yield* time(projected, "warm-b")
    yield* time(idle, "warm-c")
    const costs = { plain: [] as Array<number>, transactional: [] as Array<number>, inline: [] as Array<number> }
    const cpu = { plain: [] as Array<number>, transactional: [] as Array<number>, inline: [] as Array<number> }
    const ratios: Array<number> = []
    const pathRatios: Array<number> = []
    const stores = { plain, transactional: idle, inline: projected }
    for (const [r, names] of rotations(["plain", "transactional", "inline"] as const, rounds).entries()) {
      const perRound: Record<string, number> = {}
      for (const name of names) {
        const result = yield* time(stores[name], `${name}${r}`)
        perRound[name] = result.us
        costs[name].push(result.us)
        cpu[name].push(result.cpuUs)
      }
      ratios.push(perRound.inline / perRound.plain)
      pathRatios.push(perRound.transactional / perRound.plain)
    }
    const docs = yield* DocumentStore.DocumentStore
    const projectedCount = yield* Stream.runFold(
      docs.find(inline.target),
      () => 0,
      (sum, document) => sum + document.value.count
    )
    if (projectedCount !== appends * (rounds + 1)) {
      return yield* Effect.die(new Error(`inline projection counted ${projectedCount}`))
    }
    return {
      appends,
      rounds,
      microsPerAppend: {
        plain: spread(costs.plain),
        transactional: spread(costs.transactional),
        inline: spread(costs.inline)
      },
      cpuMicrosPerAppend: {
        plain: spread(cpu.plain),
        transactional: spread(cpu.transactional),
        inline: spread(cpu.inline)
      },
      inlineVsPlain: spread(ratios),
      transactionalPathVsPlain: spread(pathRatios)
    }
  }).pipe(Effect.scoped)

/** The event type `rebuild1M` replays (bench/rebuildMemory.ts too): seeded by SQL, data ignored. */
export const Seeded = EventCodec.type("Seeded", { schema: Schema.Struct({}) })

/** A per-stream count of the seeded events, in a collection of its own (a fresh name per call). */
export const seededProjection = () => {
  const name = `pb_rebuild_${Math.random().toString(36).slice(2, 8)}`
  return Projection.singleStream({
    name,
    collection: DocumentStore.collection(name, Count),
    events: EventCodec.make([Seeded]),
    evolve: (current) => ({ count: (current?.count ?? 0) + 1 })
  })
}

/**
 * Seeds `Seeded` events until the store holds `count` (1,000 per stream, the bench's payload, no
 * metadata), by bulk SQL into the store's table (the floor's seedStore statement, over the bench's
 * client: a second floor would re-run its schema set-up).
 */
export const seedEvents = (backend: string, count: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const seeded = Number(
      (yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM strata_events WHERE type = 'Seeded'`)[0].n
    )
    if (seeded >= count) return
    yield* backend === "postgres"
      ? sql`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
        SELECT gen_random_uuid(), 'seed-' || (v / 1000), v % 1000, 'seed', 'Seeded', ${W.payloadJson}::json, '{}'::json, now()
        FROM generate_series(${seeded + 1}::bigint, ${count}::bigint) v`
      : sql`WITH RECURSIVE n(v) AS (SELECT ${seeded + 1} UNION ALL SELECT v + 1 FROM n WHERE v < ${count})
        INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
        SELECT 'seed-' || v, 'seed-' || (v / 1000), v % 1000, 'seed', 'Seeded', ${W.payloadJson}, '{}', 0 FROM n`
    // What autovacuum does after a bulk load, at once: without statistics PostgreSQL estimates a
    // handful of 'Seeded' rows and reads each page by sorting every event after it (a 1,000,000-event
    // rebuild took 128 s instead of ~10).
    if (backend === "postgres") yield* sql`ANALYZE strata_events`
  })

const newSpaceMB = () => {
  const space = v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")
  return space === undefined ? undefined : round(space.space_size / 1024 / 1024, 1)
}

/** (c) A rebuild over 1,000,000 seeded events: seconds, and heap/RSS growth sampled while it runs. */
const rebuild1M = (backend: string, quick: boolean) =>
  Effect.gen(function*() {
    yield* seedEvents(backend, quick ? 100_000 : 1_000_000)
    const p = seededProjection()
    const { base, peaks, stop } = yield* samplePeaks
    // V8's young generation before and after (it grows once enough has survived its scavenges, and
    // the heap peak follows it; see `Projection.catchUp`).
    const newSpaceBefore = newSpaceMB()
    const start = performance.now()
    const replayed = yield* Projection.rebuild(p)
    const seconds = (performance.now() - start) / 1000
    yield* stop
    const newSpaceAfter = newSpaceMB()
    const total = yield* strataTotal(p.target)
    if (total !== replayed) return yield* Effect.die(new Error(`rebuild counted ${total} of ${replayed}`))
    // What is still held once garbage is collected (the sampled peaks include garbage V8 had not yet
    // collected: with a small live heap it lets the old generation fill before a full collection).
    collectGarbage()
    const after = process.memoryUsage()
    const mb = (bytes: number) => round(bytes / 1024 / 1024, 1)
    return {
      events: replayed,
      seconds: round(seconds, 1),
      eventsPerSecond: Math.round(replayed / seconds),
      heapGrowthMB: mb(peaks.heap - base.heapUsed),
      rssGrowthMB: mb(peaks.rss - base.rss),
      heapAfterGcGrowthMB: mb(after.heapUsed - base.heapUsed),
      externalGrowthMB: mb(after.external - base.external),
      newSpaceMB: { before: newSpaceBefore, after: newSpaceAfter }
    }
  })

// `rebuild1M` is long: it runs only when named in `--only`.
const onlyArg = process.argv.findIndex((arg) => arg === "--only" || arg.startsWith("--only="))
const only = onlyArg < 0
  ? []
  : (process.argv[onlyArg].includes("=") ? process.argv[onlyArg].split("=")[1] : process.argv[onlyArg + 1] ?? "")
    .split(",")

export const workloads: ReadonlyArray<Workload> = [
  { name: "projection", run: ({ backend, quick }) => backend === "memory" ? undefined : projection(quick) },
  {
    name: "inlineProjection",
    run: ({ backend, quick }) =>
      backend === "postgres" || backend === "sqlite" ? inlineProjection(backend, quick) : undefined
  },
  {
    name: "rebuild1M",
    run: ({ backend, quick }) =>
      only.includes("rebuild1M") && (backend === "postgres" || backend === "sqlite")
        ? rebuild1M(backend, quick)
        : undefined
  }
]
