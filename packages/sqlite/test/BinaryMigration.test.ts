// Binary events (migration 7): a store created before it upgrades in place. Its events stay JSON
// events (the new columns are NULL), and binary events appended after the upgrade read back byte
// for byte next to them.
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { Migrator, SqliteMigrations } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"

describe("binary events migration (SQLite)", () => {
  it.effect("upgrades a store created before it: old rows stay JSON, new binary rows are BLOBs", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-binary-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const filename = path.join(dir, "old.db")
      // The schema before migration 7, with JSON events in it, written by a store of that time.
      const db = new DatabaseSync(filename)
      for (const migration of SqliteMigrations.migrations.filter((m) => m.id < 7)) db.exec(Migrator.render(migration))
      const insert = db.prepare(`INSERT INTO strata_events (event_id, stream, version, category, type, data,
        metadata, created_at) VALUES (?, 'doc-1', ?, 'doc', 'Old', ?, '{}', 0)`)
      for (let version = 0; version < 3; version++) insert.run(crypto.randomUUID(), version, `{"v":${version}}`)
      db.prepare("INSERT INTO strata_streams (stream, last_version) VALUES ('doc-1', 2)").run()
      const columns = () =>
        (db.prepare("SELECT name FROM pragma_table_info('strata_events')").all() as Array<{ name: string }>)
          .map((column) => column.name)
      assert.notInclude(columns(), "data_bytes")
      db.close()

      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
      yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          yield* store.append("doc-1", [Event.binary("Scan", bytes, { contentType: "image/tiff" })])
          const read = yield* Stream.runCollect(store.read("doc-1"))
          assert.deepStrictEqual(read.slice(0, 3).map((e) => e.data), [{ v: 0 }, { v: 1 }, { v: 2 }])
          for (const old of read.slice(0, 3)) assert.isUndefined(old.contentType)
          assert.deepStrictEqual(new Uint8Array(read[3].data as Uint8Array), bytes)
          assert.strictEqual(read[3].contentType, "image/tiff")
        }).pipe(Effect.provide(SqliteStore.layer({ filename })))
      )

      const after = new DatabaseSync(filename)
      const rows = after.prepare(
        "SELECT typeof(data_bytes) AS kind, content_type, data FROM strata_events ORDER BY position"
      ).all() as Array<{ kind: string; content_type: string | null; data: string }>
      after.close()
      assert.deepStrictEqual(rows.map((row) => row.kind), ["null", "null", "null", "blob"])
      assert.deepStrictEqual(rows.map((row) => row.content_type), [null, null, null, "image/tiff"])
      assert.strictEqual(rows[3].data, "null")
    }))
})
