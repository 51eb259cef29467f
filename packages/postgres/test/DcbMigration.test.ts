// The DCB check of migration 12 (strata_dcb_conflict): a store created before it upgrades in place.
// Tagged events written before the upgrade fail a condition after it (the check reads the tag rows
// migration 9 made), and the function older processes call stays.
import { assert, layer } from "@effect/vitest"
import { EventStore } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { Migrator } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { PgTestDatabase } from "./utils.ts"

layer(PgTestDatabase.layerClient, { timeout: "60 seconds", excludeTestServices: true })(
  "DCB check migration",
  (it) => {
    it.effect("upgrades a store at migration 11: its tagged events fail conditions, old and new checks agree", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // The schema before migration 12, with a tagged event in it as migration 9's writers stored it.
        yield* Migrator.run({ ...PgDialect.dialect, migrations: PgDialect.dialect.migrations.filter((m) => m.id < 12) })
        const [old] = yield* sql<{ position: string }>`INSERT INTO strata_events
          (event_id, stream, version, category, type, data, metadata, created_at, tags)
          VALUES (${crypto.randomUUID()}::uuid, 'course-1', 0, 'course', 'Enrolled', '{}'::json, '{}'::json, now(),
          '["course:c1","student:s1"]'::json) RETURNING position`
        yield* sql`INSERT INTO strata_streams (stream, last_version) VALUES ('course-1', 0)`
        yield* sql`INSERT INTO strata_event_tags (tag, position, type)
          VALUES ('course:c1', ${old.position}, 'Enrolled'), ('student:s1', ${old.position}, 'Enrolled')`
        const before = yield* sql`SELECT FROM pg_proc WHERE proname = 'strata_dcb_conflict'`
        assert.strictEqual(before.length, 0)

        yield* Effect.scoped(
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const failed = yield* Effect.flip(
              store.append("course-2", [{ type: "Enrolled", data: {}, tags: ["course:c1"] }], {
                condition: { failIfEventsMatch: [{ types: ["Enrolled"], tags: ["student:s1", "course:c1"] }] }
              })
            )
            assert.strictEqual(failed._tag, "AppendConditionFailed")
            if (failed._tag === "AppendConditionFailed") {
              assert.strictEqual(failed.position, BigInt(old.position))
              assert.deepStrictEqual(failed.tags, ["course:c1", "student:s1"])
            }
            const next = yield* store.append("course-2", [{ type: "Enrolled", data: {}, tags: ["course:c1"] }], {
              condition: { failIfEventsMatch: [{ tags: ["course:c1"] }], after: BigInt(old.position) }
            })
            assert.isTrue(next.position > BigInt(old.position))
          }).pipe(Effect.provide(PgStore.layerFromClient()))
        )

        const applied = yield* sql<{ id: number }>`SELECT id FROM strata_migrations WHERE id = 12`
        assert.strictEqual(applied.length, 1)
        // Both checks answer the same for the same items (an older process may still call the first).
        const items = [{ tags: ["course:c1"] }]
        const [first] = yield* sql<{ c_position: string | null }>`SELECT c_position
          FROM strata_dcb_first_match(${old.position}::bigint, ${JSON.stringify(items)}::json)`
        const [conflict] = yield* sql<{ c_position: string | null }>`SELECT c_position
          FROM strata_dcb_conflict(${old.position}::bigint, ${["course:c1"]}::text[], ${[]}::text[], ${[0]}::int[],
          ${[]}::text[], ${[0]}::int[])`
        assert.isNotNull(first.c_position)
        assert.strictEqual(String(conflict.c_position), String(first.c_position))
      }))
  }
)
