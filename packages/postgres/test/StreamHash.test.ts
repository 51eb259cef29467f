// The stream_hash column (migration 8): a stored generated column over strata_stream_hash(stream),
// so events stored before it are backfilled, and every append path fills it, with the hash the
// client computes (Inputs.streamHash, ConsumerGroup.partitionOf's hash).
import { assert, layer } from "@effect/vitest"
import { ConsumerGroup, EventStore } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import { PgDialect, PgStore } from "@strata/postgres"
import { Migrator } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { PgTestDatabase } from "./utils.ts"

const streams = ["cart-1", "cart-2", "order-ünïcödé-7", "日本-1", "a", "x".repeat(200), "emoji-😀"]

layer(PgTestDatabase.layerClient, { timeout: "60 seconds", excludeTestServices: true })(
  "stream_hash migration",
  (it) => {
    it.effect("backfills events stored under the old schema; new appends store the same hash", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // The schema before migration 8, with events in it.
        yield* Migrator.run({ ...PgDialect.dialect, migrations: PgDialect.dialect.migrations.filter((m) => m.id < 8) })
        for (const stream of streams) {
          for (let version = 0; version < 3; version++) {
            yield* sql`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
            VALUES (${crypto.randomUUID()}::uuid, ${stream}, ${version}, ${
              stream.split("-")[0]
            }, 'Old', '{}'::json, '{}'::json, now())`
          }
          yield* sql`INSERT INTO strata_streams (stream, last_version) VALUES (${stream}, 2)`
        }
        const before = yield* sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns
        WHERE table_name = 'strata_events' AND column_name = 'stream_hash'`
        assert.strictEqual(before.length, 0)

        yield* Effect.scoped(
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            // Both append paths: the one-statement append and appendMany's transaction.
            yield* store.append("cart-3", [{ type: "New", data: {} }])
            yield* store.appendMany([{ stream: "日本-2", events: [{ type: "New", data: {} }] }, {
              stream: "cart-4",
              events: [{ type: "New", data: {} }]
            }])
            for (const count of [2, 5]) {
              const union: Array<string> = []
              for (let index = 0; index < count; index++) {
                const got = yield* Stream.runCollect(store.readAll({ filter: { partition: { count, index } } }))
                for (const event of got) assert.strictEqual(ConsumerGroup.partitionOf(event.stream, count), index)
                union.push(...got.map((event) => event.id))
              }
              assert.strictEqual(union.length, streams.length * 3 + 3)
            }
          }).pipe(Effect.provide(PgStore.layerFromClient()))
        )

        const rows = yield* sql<{ stream: string; stream_hash: string | number | bigint }>`
        SELECT stream, stream_hash FROM strata_events`
        assert.strictEqual(rows.length, streams.length * 3 + 3)
        for (const row of rows) assert.strictEqual(Number(row.stream_hash), Inputs.streamHash(row.stream), row.stream)
      }))
  }
)
