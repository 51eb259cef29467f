/**
 * Backends for the benchmark: the store layer and its raw-SQL floor on the same connection.
 */
import type { DocumentStore, EventStore } from "@strata/core"
import { PgStore } from "@strata/postgres"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { PgTestDatabase } from "../packages/postgres/test/utils.ts"
import type { Floor } from "./Workloads.ts"

const pgFloor: Effect.Effect<Floor, unknown, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The same envelope a store keeps (id, type, metadata, time), so reads return the same information.
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
  const appendTo = (table: string): Floor["append"] => (stream, expected, payloads) =>
    Effect.asVoid(sql`INSERT INTO ${sql(table)} (event_id, stream, version, type, data, metadata, created_at)
      SELECT gen_random_uuid(), ${stream}, ${expected} + e.n, 'OrderPlaced', e.data, '{}'::json, now()
      FROM unnest(${payloads}::json[]) WITH ORDINALITY AS e (data, n)
      WHERE coalesce((SELECT max(version) FROM ${sql(table)} WHERE stream = ${stream}), -1) = ${expected}`)
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
  return {
    append: appendTo("bench_floor"),
    appendIndexed: appendTo("bench_floor_indexed"),
    readStream: (stream) =>
      paged((cursor) =>
        sql<
          { k: unknown }
        >`SELECT version AS k, position, event_id, stream, type, data, metadata, created_at FROM bench_floor
          WHERE stream = ${stream} AND version > ${cursor} ORDER BY version LIMIT ${pageSize}`
      ),
    readAll: paged((cursor) =>
      sql<
        { k: unknown }
      >`SELECT position AS k, event_id, stream, version, type, data, metadata, created_at FROM bench_floor
        WHERE position > ${cursor} ORDER BY position LIMIT ${pageSize}`
    ),
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
            if (Number((head.get(stream) as { v: number }).v) !== expected) throw new Error("conflict")
            payloads.forEach((payload, i) =>
              insert.run(crypto.randomUUID(), stream, expected + 1 + i, payload, Date.now())
            )
            db.exec("COMMIT")
          } catch (error) {
            db.exec("ROLLBACK")
            throw error
          }
        })
    }
    const pageSize = 500
    const byVersion = db.prepare(
      "SELECT version AS k, position, event_id, stream, type, data, metadata, created_at FROM bench_floor WHERE stream = ? AND version > ? ORDER BY version LIMIT ?"
    )
    const byPosition = db.prepare(
      "SELECT position AS k, event_id, stream, version, type, data, metadata, created_at FROM bench_floor WHERE position > ? ORDER BY position LIMIT ?"
    )
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
      readStream: (stream) => Effect.sync(() => paged((cursor) => byVersion.all(stream, cursor, pageSize))),
      readAll: Effect.sync(() => paged((cursor) => byPosition.all(cursor, pageSize))),
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

export const layer = (
  backend: string
): Layer.Layer<EventStore.EventStore | DocumentStore.DocumentStore | SqlClient.SqlClient, unknown> => {
  switch (backend) {
    case "postgres":
      return Layer.unwrap(Effect.map(PgTestDatabase, (db) => PgStore.layer({ url: db.url, maxConnections: 10 }))).pipe(
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
