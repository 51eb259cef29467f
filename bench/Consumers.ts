/**
 * Processing workloads: Consumers (issue 23). Each entry is a named workload run by bench/run.ts after the
 * storage workloads, with its floors measured in the same run.
 *
 * `consumer`: 20,000 events over 500 streams already stored; a durable consumer keeps a per-stream count
 * in its own table (one upsert per event) and its checkpoint commits with those writes. Contenders, in
 * interleaved rounds (order rotated each round), each on a fresh consumer name and an emptied table,
 * verified exact after every run:
 * - `floor`: by hand, batches of 1,000 events: read the page, one upsert statement per event and the
 *   checkpoint row in one transaction (PostgreSQL through the store's SqlClient; SQLite through plain
 *   node:sqlite on the same file);
 * - `floorSqlClient` (SQLite): the per-statement floor through the store's SqlClient instead (it parses
 *   each event's data, as the store and the raw floor do);
 * - `bulk`: the same batches with one set-based upsert per batch;
 * - `strata`: `Consumer.run` with the defaults, the upsert through the store's SqlClient in the handler;
 * - `strataEach`: the same with `checkpointEvery: 1` (one transaction per event, the old default);
 * - `emmett` (PostgreSQL): Emmett 0.42's PostgreSQL store and a projector doing the same upsert (it
 *   connects to the bench's own database with its credentials, as the store does).
 */
import { SQL } from "@event-driven-io/dumbo"
import {
  getPostgreSQLEventStore,
  postgreSQLEventStoreConsumer,
  postgreSQLRawSQLProjection
} from "@event-driven-io/emmett-postgresql"
import { Consumer, Event, EventStore } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as SqlClient from "effect/sql/SqlClient"
import { DatabaseSync } from "node:sqlite"
import { benchPostgresUrl } from "./Backends.ts"
import type { Workload } from "./Processing.ts"
import { payload } from "./Workloads.ts"

/** The table the contenders count in, one row per stream. */
export const table = "bench_consumer_counts"
const checkpoints = "bench_consumer_checkpoints"
const streams = 500
/** The category of the seeded streams. */
export const category = "bcons"
const batch = 1000

interface Row {
  readonly position: bigint
  readonly stream: string
  readonly data: unknown
}

/** One contender: handles every seeded event once, counting per stream in `table`. */
export type Contender = (
  name: string,
  last: bigint
) => Effect.Effect<void, unknown, SqlClient.SqlClient | EventStore.EventStore | Consumer.Checkpoints>

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}
const spread = (values: ReadonlyArray<number>, digits = 3) => {
  const round = (x: number) => Math.round(x * 10 ** digits) / 10 ** digits
  return { min: round(Math.min(...values)), median: round(median(values)), max: round(Math.max(...values)) }
}

/** The upsert one event costs, through the store's SqlClient. */
export const upsert = (sql: SqlClient.SqlClient, stream: string) =>
  sql`INSERT INTO ${sql(table)} (stream, n) VALUES (${stream}, 1)
    ON CONFLICT (stream) DO UPDATE SET n = ${sql(table)}.n + 1`

// Runs `consumer` until its checkpoint `name` has committed `last`: the store's Checkpoints, wrapped
// to say when a commit has returned. Not a poll of the store: a poll every 5 ms cost the contender its
// statements' CPU and up to 5 ms of wall time per run (2-5% of a SQLite run).
const untilCommitted = <E>(
  name: string,
  last: bigint,
  consumer: Effect.Effect<void, E, SqlClient.SqlClient | EventStore.EventStore | Consumer.Checkpoints>
) =>
  Effect.gen(function*() {
    const checkpoints = yield* Consumer.Checkpoints
    const committed = yield* Deferred.make<void>()
    const watched: Consumer.CheckpointStore = {
      ...checkpoints,
      commit: (at, position, work) =>
        Effect.tap(
          checkpoints.commit(at, position, work),
          () => at === name && position >= last ? Deferred.succeed(committed, undefined) : Effect.void
        )
    }
    const fiber = yield* Effect.forkChild(Effect.provideService(consumer, Consumer.Checkpoints, watched))
    // A consumer that fails ends the wait with its failure.
    yield* Effect.raceFirst(Deferred.await(committed), Fiber.join(fiber))
    yield* Fiber.interrupt(fiber)
  })

/** `Consumer.run` with the defaults (or `checkpointEvery`) and `handler` built over the store's SqlClient. */
export const strataWith = (
  handler: (sql: SqlClient.SqlClient) => (event: Event.RecordedEvent) => Effect.Effect<unknown, unknown>,
  checkpointEvery?: number
): Contender =>
(name, last) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    untilCommitted(
      name,
      last,
      Consumer.run(name, {
        filter: { categories: [category] },
        ...(checkpointEvery === undefined ? {} : { checkpointEvery }),
        handler: handler(sql)
      })
    ))

// The handler returns the upsert's effect as it is (its rows are ignored), as the SqlClient floor's
// loop does: an `Effect.asVoid` around it was one more step per event that neither floor pays.
const strata = (checkpointEvery: number | undefined): Contender =>
  strataWith((sql) => (event) => upsert(sql, event.stream), checkpointEvery)

// PostgreSQL floors, through the store's SqlClient (what a hand-written consumer in Effect would use).
const pgPage = (sql: SqlClient.SqlClient, after: bigint) =>
  sql<Row>`SELECT position, stream, data FROM strata_events WHERE category = ${category} AND position > ${after}
    ORDER BY position LIMIT ${batch}`

const pgFloor = (bulk: boolean, upserts = true): Contender => (name, last) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    let after = -1n
    while (after < last) {
      const rows = yield* pgPage(sql, after)
      if (rows.length === 0) break
      const position = BigInt(rows[rows.length - 1].position)
      // The store parses each event's data (PostgreSQL's driver hands jsonb over parsed; SQLite's
      // column is text): so does the floor, as the raw node:sqlite floor does.
      for (const row of rows) if (typeof row.data === "string") JSON.parse(row.data)
      const work = bulk
        ? sql`INSERT INTO ${sql(table)} (stream, n)
            SELECT s, count(*) FROM unnest(${rows.map((row) => row.stream)}::text[]) AS s GROUP BY s
            ON CONFLICT (stream) DO UPDATE SET n = ${sql(table)}.n + excluded.n`
        : upserts
        ? Effect.forEach(rows, (row) => upsert(sql, row.stream), { discard: true })
        : Effect.void
      yield* sql.withTransaction(Effect.andThen(
        work,
        sql`INSERT INTO ${sql(checkpoints)} (name, position) VALUES (${name}, ${position})
          ON CONFLICT (name) DO UPDATE SET position = excluded.position`
      ))
      after = position
    }
  })

// SQLite floors: plain node:sqlite on the store's file, prepared statements, no Effect in the loop.
const sqliteFloor = (file: string, bulk: boolean): Contender => (name, last) =>
  Effect.sync(() => {
    const db = new DatabaseSync(file)
    try {
      db.exec("PRAGMA busy_timeout = 5000")
      const page = db.prepare(
        `SELECT position, stream, data FROM strata_events WHERE category = ? AND position > ? ORDER BY position LIMIT ?`
      )
      const one = db.prepare(
        `INSERT INTO ${table} (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1`
      )
      const many = db.prepare(
        `INSERT INTO ${table} (stream, n) SELECT value, count(*) FROM json_each(?) WHERE true GROUP BY value
          ON CONFLICT (stream) DO UPDATE SET n = n + excluded.n`
      )
      const save = db.prepare(
        `INSERT INTO ${checkpoints} (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position`
      )
      let after = -1
      while (after < Number(last)) {
        const rows = page.all(category, after, batch) as Array<{ position: number; stream: string; data: string }>
        if (rows.length === 0) break
        db.exec("BEGIN IMMEDIATE")
        try {
          // The store parses each event's data; so does the floor.
          for (const row of rows) JSON.parse(row.data)
          if (bulk) many.run(JSON.stringify(rows.map((row) => row.stream)))
          else for (const row of rows) one.run(row.stream)
          after = Number(rows[rows.length - 1].position)
          save.run(name, after)
          db.exec("COMMIT")
        } catch (error) {
          db.exec("ROLLBACK")
          throw error
        }
      }
    } finally {
      db.close()
    }
  })

// Every contender must leave exactly `perStream` in each of the 500 rows.
const verify = (sql: SqlClient.SqlClient, perStream: number, contender: string) =>
  Effect.flatMap(
    sql<{ rows: unknown; total: unknown; low: unknown; high: unknown }>`SELECT count(*) AS rows,
      coalesce(sum(n), 0) AS total, min(n) AS low, max(n) AS high FROM ${sql(table)}`,
    ([row]) =>
      Number(row.rows) === streams && Number(row.low) === perStream && Number(row.high) === perStream
        ? Effect.void
        : Effect.die(
          new Error(`consumer bench: ${contender} left ${JSON.stringify(row)}, expected ${streams} x ${perStream}`)
        )
  )

// Emmett 0.42 on the same database: its own store and tables, seeded through its own append with the
// same events (40 per stream), and a projector whose projection runs the same upsert per event.
const emmett = (sql: SqlClient.SqlClient, total: number) =>
  Effect.gen(function*() {
    const [info] = yield* sql<{ db: string; port: number; usr: string }>`SELECT current_database() AS db,
      inet_server_port() AS port, current_user AS usr`
    // The bench's own database, with its credentials (an embedded server's password is random).
    const server = new URL(
      benchPostgresUrl() ?? process.env["DATABASE_URL"] ?? `postgres://${info.usr}@127.0.0.1:${info.port}/`
    )
    server.pathname = `/${info.db}`
    const url = server.toString()
    const store = getPostgreSQLEventStore(url)
    yield* Effect.promise(() => store.schema.migrate())
    let last = 0n
    for (let s = 0; s < streams; s++) {
      const events = Array.from({ length: total / streams }, (_, round) => ({
        type: "Counted",
        data: { ...payload, round }
      }))
      const result = yield* Effect.promise(() => store.appendToStream(`${category}-${s}`, events))
      last = result.lastEventGlobalPosition
    }
    yield* Effect.addFinalizer(() => Effect.promise(() => store.close()))
    const contender: Contender = (name) =>
      Effect.promise(async () => {
        const consumer = postgreSQLEventStoreConsumer({ connectionString: url })
        consumer.projector({
          processorId: name,
          projection: postgreSQLRawSQLProjection<any>({
            name,
            canHandle: ["Counted"],
            evolve: (event: { readonly metadata: { readonly streamName: string } }) => {
              const stream = event.metadata.streamName
              return SQL`INSERT INTO bench_consumer_counts (stream, n) VALUES (${stream}, 1)
                ON CONFLICT (stream) DO UPDATE SET n = bench_consumer_counts.n + 1`
            }
          }),
          stopAfter: (event) => event.metadata.globalPosition === last
        })
        try {
          await consumer.start()
        } finally {
          await consumer.close()
        }
      })
    return contender
  })

/**
 * Creates the contenders' tables and seeds `total` events over the 500 streams through the store
 * (one event to each stream per round, interleaved); returns the last position.
 */
export const setUp = (total: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${table} (stream TEXT PRIMARY KEY, n BIGINT NOT NULL)`)
    yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${checkpoints} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)`)
    let last = 0n
    for (let round = 0; round < total / streams; round++) {
      const results = yield* store.appendMany(
        Array.from({ length: streams }, (_, s) => ({
          stream: `${category}-${s}`,
          events: [Event.make("Counted", { ...payload, round })]
        }))
      )
      last = results[results.length - 1].position
    }
    return last
  })

/** The per-statement floor through the SqlClient without its upserts: what reading and checkpointing cost it. */
export const floorSqlClientReads: Contender = pgFloor(false, false)

/** The SQLite contenders, by name, over the store's database `file`. */
export const sqliteContenders = (file: string): Record<string, Contender> => ({
  floor: sqliteFloor(file, false),
  // The same per-statement floor through the store's SqlClient, to tell the driver's cost (effect/sql
  // over node:sqlite) from the consumer's.
  floorSqlClient: pgFloor(false),
  bulk: sqliteFloor(file, true),
  strata: strata(undefined),
  strataEach: strata(1)
})

const consumer: Workload = {
  name: "consumer",
  run: ({ backend, quick }) => {
    if (backend !== "postgres" && backend !== "sqlite") return undefined
    return Effect.scoped(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const total = quick ? 2_000 : 20_000
      const rounds = quick ? 1 : 3
      const perStream = total / streams
      const last = yield* setUp(total)
      const file = backend === "sqlite"
        ? (yield* sql<{ name: string; file: string }>`PRAGMA database_list`).find((row) => row.name === "main")!.file
        : ""
      const contenders: ReadonlyArray<readonly [string, Contender]> = backend === "sqlite"
        ? Object.entries(sqliteContenders(file))
        : [
          ["floor", pgFloor(false)],
          ["bulk", pgFloor(true)],
          ["strata", strata(undefined)],
          ["strataEach", strata(1)],
          ["emmett", yield* emmett(sql, total)]
        ]
      const results = new Map<string, { eps: Array<number>; cpu: Array<number> }>(
        contenders.map(([name]) => [name, { eps: [], cpu: [] }])
      )
      for (let round = 0; round < rounds; round++) {
        const order = contenders.map((_, i) => contenders[(i + round) % contenders.length])
        for (const [name, contender] of order) {
          yield* sql.unsafe(`DELETE FROM ${table}`)
          const cpu = process.cpuUsage()
          const started = performance.now()
          yield* contender(`bench-${name}-${round}-${Date.now()}`, last)
          const ms = performance.now() - started
          const used = process.cpuUsage(cpu)
          yield* verify(sql, perStream, name)
          const entry = results.get(name)!
          entry.eps.push(total / (ms / 1000))
          entry.cpu.push((used.user + used.system) / total)
          process.stderr.write(`consumer round ${round} ${name}: ${Math.round(total / (ms / 1000))} events/s\n`)
        }
      }
      const floor = results.get("floor")!.eps
      return {
        events: total,
        streams,
        rounds,
        contenders: Object.fromEntries([...results].map(([name, { cpu, eps }]) => [name, {
          eventsPerSecond: spread(eps, 0),
          ratioToFloor: spread(eps.map((value, i) => value / floor[i])),
          clientCpuUsPerEvent: spread(cpu, 1)
        }]))
      }
    }))
  }
}

export const workloads: ReadonlyArray<Workload> = [consumer]
