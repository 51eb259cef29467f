// The stream_hash column (migration 5): events stored before it are backfilled with the hash
// appends now store (Inputs.streamHash, ConsumerGroup.partitionOf's hash), so partition filters
// see old and new events alike.
import { assert, describe, it } from "@effect/vitest"
import { ConsumerGroup, EventStore } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import { Migrator, SqliteMigrations } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"

const streams = ["cart-1", "cart-2", "order-ünïcödé-7", "日本-1", "a", "x".repeat(200), "emoji-😀"]

describe("stream_hash migration (SQLite)", () => {
  it.effect("backfills events stored under the old schema with Inputs.streamHash", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-hash-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const filename = path.join(dir, "old.db")
      // The schema before migration 5, with events in it.
      const db = new DatabaseSync(filename)
      for (const migration of SqliteMigrations.migrations.filter((m) => m.id < 5)) {
        db.exec(Migrator.render(migration))
      }
      const insert = db.prepare(`INSERT INTO strata_events (event_id, stream, version, category, type, data,
        metadata, created_at) VALUES (?, ?, ?, ?, 'Old', '{}', '{}', 0)`)
      for (const stream of streams) {
        for (let version = 0; version < 3; version++) {
          insert.run(crypto.randomUUID(), stream, version, stream.split("-")[0])
        }
        db.prepare("INSERT INTO strata_streams (stream, last_version) VALUES (?, 2)").run(stream)
      }
      assert.isFalse(
        (db.prepare("SELECT name FROM pragma_table_info('strata_events')").all() as Array<{ name: string }>)
          .some((column) => column.name === "stream_hash")
      )
      db.close()

      yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          yield* store.append("cart-3", [{ type: "New", data: {} }])
          for (const count of [2, 5]) {
            const union: Array<string> = []
            for (let index = 0; index < count; index++) {
              const got = yield* Stream.runCollect(store.readAll({ filter: { partition: { count, index } } }))
              for (const event of got) assert.strictEqual(ConsumerGroup.partitionOf(event.stream, count), index)
              union.push(...got.map((event) => event.id))
            }
            assert.strictEqual(union.length, streams.length * 3 + 1)
          }
        }).pipe(Effect.provide(SqliteStore.layer({ filename })))
      )

      const after = new DatabaseSync(filename)
      const rows = after.prepare("SELECT stream, stream_hash FROM strata_events").all() as Array<
        { stream: string; stream_hash: number }
      >
      after.close()
      assert.strictEqual(rows.length, streams.length * 3 + 1)
      for (const row of rows) assert.strictEqual(row.stream_hash, Inputs.streamHash(row.stream), row.stream)
    }))
})
