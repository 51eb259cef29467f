// Binary events (migration 11): a store created before it upgrades in place. Its events stay JSON
// events (the new columns are NULL), and binary events appended after the upgrade are stored as
// bytea and read back byte for byte next to them, on the one-statement path's store too.
import { assert, layer } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { Migrator } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { PgTestDatabase } from "./utils.ts"

layer(PgTestDatabase.layerClient, { timeout: "60 seconds", excludeTestServices: true })(
  "binary events migration",
  (it) => {
    it.effect("upgrades a store created before it: old rows stay JSON, new binary rows are bytea", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // The schema before migration 11, with JSON events in it.
        yield* Migrator.run({ ...PgDialect.dialect, migrations: PgDialect.dialect.migrations.filter((m) => m.id < 11) })
        for (let version = 0; version < 3; version++) {
          yield* sql`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
          VALUES (${crypto.randomUUID()}::uuid, 'doc-1', ${version}, 'doc', 'Old', ${`{"v":${version}}`}::json,
          '{}'::json, now())`
        }
        yield* sql`INSERT INTO strata_streams (stream, last_version) VALUES ('doc-1', 2)`
        const before = yield* sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns
        WHERE table_name = 'strata_events' AND column_name = 'data_bytes'`
        assert.strictEqual(before.length, 0)

        const bytes = Uint8Array.from({ length: 256 }, (_, i) => 255 - i)
        yield* Effect.scoped(
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            yield* store.append("doc-1", [Event.binary("Scan", bytes, { contentType: "image/tiff" })])
            yield* store.append("doc-1", [{ type: "New", data: { v: 4 } }])
            const read = yield* Stream.runCollect(store.read("doc-1"))
            assert.deepStrictEqual(read.slice(0, 3).map((e) => e.data), [{ v: 0 }, { v: 1 }, { v: 2 }])
            for (const old of [...read.slice(0, 3), read[4]]) assert.isUndefined(old.contentType)
            assert.deepStrictEqual(new Uint8Array(read[3].data as Uint8Array), bytes)
            assert.strictEqual(read[3].contentType, "image/tiff")
            assert.deepStrictEqual(read[4].data, { v: 4 })
          }).pipe(Effect.provide(PgStore.layerFromClient()))
        )

        const rows = yield* sql<{ hex: string | null; content_type: string | null; data: unknown }>`
        SELECT encode(data_bytes, 'hex') AS hex, content_type, data FROM strata_events ORDER BY position`
        assert.deepStrictEqual(rows.map((row) => row.content_type), [null, null, null, "image/tiff", null])
        assert.strictEqual(rows[3].hex, Buffer.from(bytes).toString("hex"))
        assert.strictEqual(rows[3].data, null)
        assert.isNull(rows[0].hex)
      }))
  }
)
