/**
 * Backends for the benchmark: the store layer and its raw-SQL floor on the same connection.
 */
import { Event, EventStore, ExpectedVersion, StreamName } from "@strata/core"
import type { Store } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqliteMigrations } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import { PgTestDatabase } from "../packages/postgres/test/utils.ts"
import type { Floor } from "./Workloads.ts"

const pgFloor: Effect.Effect<Floor, unknown, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The same envelope a store keeps (id, type, metadata, time), so reads return the same information.
  // Event ids are the store's kind (UUIDv7, time-ordered, made in Node): random ones would scatter
  // inserts over the unique index and make the indexed floors slower than the work they stand for.
  yield* sql`CREATE TABLE IF NOT EXISTS bench_floor (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL,
    stream text NOT NULL, version bigint NOT NULL, type text NOT NULL, data json NOT NULL, metadata json NOT NULL,
    created_at timestamptz NOT NULL, UNIQUE (stream, version))`
  yield* sql`CREATE TABLE IF NOT EXISTS bench_floor_indexed (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL UNIQUE,
    stream text NOT NULL, version bigint NOT NULL, category text NOT NULL DEFAULT 'bench', type text NOT NULL, data json NOT NULL,
    metadata json NOT NULL, created_at timestamptz NOT NULL, UNIQUE (stream, version))`
  yield* sql`CREATE INDEX IF NOT EXISTS bench_floor_indexed_type ON bench_floor_indexed (type, position)`
  yield* sql`CREATE INDEX IF NOT EXISTS bench_floor_indexed_category ON bench_floor_indexed (category, position)`
  // The conflict answer (the head) comes back in the same statement; only a lost race to the unique
  // index (both saw the same head) costs a second round trip to read it.
  const appendTo = (table: string): Floor["append"] => (stream, expected, payloads) =>
    sql<{ head: unknown; n: unknown }>`WITH head AS (
        SELECT coalesce(max(version), -1) AS v FROM ${sql(table)} WHERE stream = ${stream}
      ), ins AS (
        INSERT INTO ${sql(table)} (event_id, stream, version, type, data, metadata, created_at)
        SELECT e.id, ${stream}, head.v + e.n, 'OrderPlaced', e.data, '{}'::json, now()
        FROM head, unnest(${payloads.map(() => Event.makeEventId())}::uuid[], ${payloads}::json[])
          WITH ORDINALITY AS e (id, data, n)
        WHERE head.v = ${expected}
        RETURNING 1
      )
      SELECT (SELECT v FROM head) AS head, (SELECT count(*) FROM ins) AS n`.pipe(
      Effect.map(([row]) => Number(row.n) > 0 ? undefined : Number(row.head)),
      Effect.catchIf(
        (error) => error.reason._tag === "UniqueViolation",
        () =>
          Effect.map(
            sql<{ v: unknown }>`SELECT coalesce(max(version), -1) AS v FROM ${sql(table)} WHERE stream = ${stream}`,
            ([row]) => Number(row.v)
          )
      )
    )
  const pageSize = 500
  const paged = (query: (cursor: bigint) => Effect.Effect<ReadonlyArray<{ k: unknown }>, unknown>) =>
    Effect.gen(function*() {
      let cursor = -1n
      let count = 0
      for (;;) {
        const rows = yield* query(cursor)
        count += rows.length
        if (rows.length < pageSize) return count
        cursor = BigInt(rows[rows.length - 1].k as bigint)
      }
    })
  const byVersion = (stream: string, cursor: bigint) =>
    sql<
      { k: unknown }
    >`SELECT version AS k, position, event_id, stream, type, data, metadata, created_at FROM bench_floor
      WHERE stream = ${stream} AND version > ${cursor} ORDER BY version LIMIT ${pageSize}`
  const byPosition = (cursor: bigint) =>
    sql<
      { k: unknown }
    >`SELECT position AS k, event_id, stream, version, type, data, metadata, created_at FROM bench_floor
      WHERE position > ${cursor} ORDER BY position LIMIT ${pageSize}`
  // Rows as arrays: the key is the first value.
  const keyed = (rows: ReadonlyArray<ReadonlyArray<unknown>>) => rows.map((row) => ({ k: row[0] }))
  // The store's own statement (the dialect's one-statement append) by hand: no planning, spans,
  // metadata or wake-ups around it. What separates it from the store is Strata's per-call code; what
  // separates it from the indexed floor is the schema (the stream row and the announcement).
  const appendOne = PgDialect.dialect.write._tag === "Transactional" ? PgDialect.dialect.write.appendOne : undefined
  const appendSameWork: Floor["append"] = (stream, expected, payloads) =>
    Effect.flatMap(
      appendOne!(sql, {
        stream,
        category: StreamName.category(stream),
        expected: expected < 0 ? ExpectedVersion.noStream : ExpectedVersion.exact(BigInt(expected)),
        events: payloads.map((data) => ({ id: Event.makeEventId(), type: "OrderPlaced", data, metadata: "{}" })),
        createdAt: new Date()
      }),
      (outcome) =>
        outcome._tag === "Ok"
          ? Effect.succeed(undefined)
          : outcome._tag === "Conflict"
          ? Effect.succeed(Number(outcome.actual ?? -1n))
          : Effect.die(new Error(`same-work append: ${outcome._tag}`))
    )
  return {
    append: appendTo("bench_floor"),
    appendIndexed: appendTo("bench_floor_indexed"),
    appendSameWork,
    readStream: (stream) => paged((cursor) => byVersion(stream, cursor)),
    readAll: paged((cursor) => byPosition(cursor)),
    readStreamValues: (stream) => paged((cursor) => Effect.map(byVersion(stream, cursor).values, keyed)),
    readAllValues: paged((cursor) => Effect.map(byPosition(cursor).values, keyed)),
    seedStore: (count, payload) =>
      Effect.gen(function*() {
        yield* sql`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
          SELECT gen_random_uuid(), 'seed-' || (v / 1000), v % 1000, 'seed', 'Seeded', ${payload}::json, '{}'::json, now()
          FROM generate_series(1, ${count}::bigint) v`
        const rows = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM strata_events`
        return Number(rows[0].n)
      })
  }
})

// The SQLite floor: plain node:sqlite on its own connection to the same file, no Effect in between.
const sqliteFloor = (file: string): Effect.Effect<Floor> =>
  Effect.sync(() => {
    const db = new DatabaseSync(file)
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000")
    db.exec(`CREATE TABLE IF NOT EXISTS bench_floor (position INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
      stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
      created_at INTEGER NOT NULL, UNIQUE (stream, version))`)
    db.exec(`CREATE TABLE IF NOT EXISTS bench_floor_indexed (position INTEGER PRIMARY KEY AUTOINCREMENT,
      event_id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL, version INTEGER NOT NULL, category TEXT NOT NULL DEFAULT 'bench',
      type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (stream, version));
      CREATE INDEX IF NOT EXISTS bench_floor_indexed_type ON bench_floor_indexed (type, position);
      CREATE INDEX IF NOT EXISTS bench_floor_indexed_category ON bench_floor_indexed (category, position)`)
    const appendTo = (table: string): Floor["append"] => {
      const head = db.prepare(`SELECT coalesce(max(version), -1) AS v FROM ${table} WHERE stream = ?`)
      const insert = db.prepare(
        `INSERT INTO ${table} (event_id, stream, version, type, data, metadata, created_at) VALUES (?, ?, ?, 'OrderPlaced', ?, '{}', ?)`
      )
      return (stream, expected, payloads) =>
        Effect.sync(() => {
          db.exec("BEGIN IMMEDIATE")
          try {
            const actual = Number((head.get(stream) as { v: number }).v)
            if (actual === expected) {
              payloads.forEach((payload, i) =>
                insert.run(Event.makeEventId(), stream, expected + 1 + i, payload, Date.now())
              )
            }
            db.exec("COMMIT")
            return actual === expected ? undefined : actual
          } catch (error) {
            db.exec("ROLLBACK")
            throw error
          }
        })
    }
    // The store's own work by hand, on a copy of its schema (same DDL: SqliteMigrations).
    for (const migration of SqliteMigrations.migrations) {
      for (const statement of migration.statements) {
        db.exec(statement.replace(/\bstrata_/g, "same_").replace(/^CREATE (TABLE|INDEX) /, "CREATE $1 IF NOT EXISTS "))
      }
    }
    const sameHead = db.prepare("SELECT last_version, deleted, tombstoned FROM same_streams WHERE stream = ?")
    const sameInsert = db.prepare(
      "INSERT INTO same_events (event_id, stream, version, category, type, data, metadata, created_at) VALUES (?, ?, ?, 'bench', 'OrderPlaced', ?, '{}', ?)"
    )
    const sameMove = db.prepare(
      "INSERT INTO same_streams (stream, last_version, deleted) VALUES (?, ?, 0) ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version, deleted = 0"
    )
    const appendSameWork: Floor["append"] = (stream, expected, payloads) =>
      Effect.sync(() => {
        db.exec("BEGIN IMMEDIATE")
        try {
          const row = sameHead.get(stream) as { last_version: number; deleted: number; tombstoned: number } | undefined
          if (row?.tombstoned) throw new Error("tombstoned")
          const actual = row === undefined || row.deleted ? -1 : Number(row.last_version)
          if (actual === expected) {
            payloads.forEach((payload, i) =>
              sameInsert.run(Event.makeEventId(), stream, expected + 1 + i, payload, Date.now())
            )
            sameMove.run(stream, expected + payloads.length)
          }
          db.exec("COMMIT")
          return actual === expected ? undefined : actual
        } catch (error) {
          db.exec("ROLLBACK")
          throw error
        }
      })
    const pageSize = 500
    const byVersion = db.prepare(
      "SELECT version AS k, position, event_id, stream, type, data, metadata, created_at FROM bench_floor WHERE stream = ? AND version > ? ORDER BY version LIMIT ?"
    )
    const byPosition = db.prepare(
      "SELECT position AS k, event_id, stream, version, type, data, metadata, created_at FROM bench_floor WHERE position > ? ORDER BY position LIMIT ?"
    )
    // A reader needs the events, not their text: parse data and metadata, as the store does.
    const parsed = (rows: ReadonlyArray<Record<string, unknown>>) => {
      for (const row of rows) {
        row.data = JSON.parse(row.data as string)
        row.metadata = JSON.parse(row.metadata as string)
      }
      return rows
    }
    // Rows as arrays (the key first, data and metadata at 5 and 6), returned as keyed rows for `paged`.
    const parsedValues = (statement: StatementSync, ...params: Array<SQLInputValue>) => {
      statement.setReturnArrays(true)
      const rows = statement.all(...params) as unknown as Array<Array<unknown>>
      statement.setReturnArrays(false)
      return rows.map((row) => {
        row[5] = JSON.parse(row[5] as string)
        row[6] = JSON.parse(row[6] as string)
        return { k: row[0] }
      })
    }
    const paged = (page: (cursor: number) => ReadonlyArray<Record<string, unknown>>) => {
      let cursor = -1
      let count = 0
      for (;;) {
        const rows = page(cursor)
        count += rows.length
        if (rows.length < pageSize) return count
        cursor = Number(rows[rows.length - 1].k)
      }
    }
    return {
      append: appendTo("bench_floor"),
      appendIndexed: appendTo("bench_floor_indexed"),
      appendSameWork,
      readStream: (stream) => Effect.sync(() => paged((cursor) => parsed(byVersion.all(stream, cursor, pageSize)))),
      readAll: Effect.sync(() => paged((cursor) => parsed(byPosition.all(cursor, pageSize)))),
      readStreamValues: (stream) =>
        Effect.sync(() => paged((cursor) => parsedValues(byVersion, stream, cursor, pageSize))),
      readAllValues: Effect.sync(() => paged((cursor) => parsedValues(byPosition, cursor, pageSize))),
      seedStore: (count, payload) =>
        Effect.sync(() => {
          db.exec("BEGIN IMMEDIATE")
          db.prepare(`WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < ?)
            INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
            SELECT 'seed-' || v, 'seed-' || (v / 1000), v % 1000, 'seed', 'Seeded', ?, '{}', 0 FROM n`).run(
            count,
            payload
          )
          db.exec("COMMIT")
          return Number((db.prepare("SELECT count(*) AS n FROM strata_events").get() as { n: number }).n)
        })
    } satisfies Floor
  })

const sqliteFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "strata-bench-")), "bench.db")

// The bench's PostgreSQL database, with its credentials: contenders that connect by URL (Emmett) use it.
let postgresUrl: string | undefined

/** The URL of the PostgreSQL database `layer("postgres")` opened (with its password), once it has. */
export const benchPostgresUrl = (): string | undefined => postgresUrl

export const layer = (
  backend: string
): Layer.Layer<Store.Services | SqlClient.SqlClient, unknown> => {
  switch (backend) {
    case "postgres":
      return Layer.unwrap(Effect.map(PgTestDatabase, (db) => {
        postgresUrl = Redacted.value(db.url)
        return PgStore.layer({ url: db.url, maxConnections: 10 })
      })).pipe(
        Layer.provide(PgTestDatabase.layer)
      )
    case "sqlite":
      return SqliteStore.layer({ filename: sqliteFile })
    default:
      throw new Error(`unknown backend ${backend}; use postgres, sqlite or memory`)
  }
}

export const floor = (backend: string): Effect.Effect<Floor, unknown, SqlClient.SqlClient> => {
  switch (backend) {
    case "postgres":
      return pgFloor
    case "sqlite":
      return sqliteFloor(sqliteFile)
    default:
      return Effect.die(new Error(`unknown backend ${backend}`))
  }
}

/** Two SQLite stores on fresh files that differ only in `synchronous` (NORMAL, the default, and FULL). */
export const sqliteDurability = Effect.gen(function*() {
  const open = (synchronous: "NORMAL" | "FULL") =>
    Effect.map(
      Layer.build(SqliteStore.layer({
        filename: path.join(fs.mkdtempSync(path.join(os.tmpdir(), "strata-bench-")), `${synchronous}.db`),
        synchronous
      })),
      (context) => Context.get(context, EventStore.EventStore)
    )
  return { normal: yield* open("NORMAL"), full: yield* open("FULL") }
})
