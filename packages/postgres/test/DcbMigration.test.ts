// The DCB checks of migrations 12 (strata_dcb_conflict) and 13 (strata_dcb_conflict_at): a store
// created before either upgrades in place. Tagged events written before the upgrade fail a condition
// after it (the check reads the tag rows migration 9 made), and the functions older processes call stay.
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

layer(PgTestDatabase.layerClient, { timeout: "60 seconds", excludeTestServices: true })(
  "DCB check position migration",
  (it) => {
    it.effect("upgrades a store at migration 12: conditions fail on its tagged events, 12's and 13's checks agree", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // The schema before migration 13, with tagged events in it as migration 12's writers stored them.
        yield* Migrator.run({ ...PgDialect.dialect, migrations: PgDialect.dialect.migrations.filter((m) => m.id < 13) })
        const event = (stream: string, version: number, type: string, tags: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            const [row] = yield* sql<{ position: string }>`INSERT INTO strata_events
              (event_id, stream, version, category, type, data, metadata, created_at, tags)
              VALUES (${crypto.randomUUID()}::uuid, ${stream}, ${version}, 'course', ${type}, '{}'::json, '{}'::json,
              now(), ${JSON.stringify(tags)}::json) RETURNING position`
            for (const tag of tags) {
              yield* sql`INSERT INTO strata_event_tags (tag, position, type) VALUES (${tag}, ${row.position}, ${type})`
            }
            return BigInt(row.position)
          })
        const defined = yield* event("course-1", 0, "Defined", ["course:c1"])
        const enrolled = yield* event("course-1", 1, "Enrolled", ["course:c1", "student:s1"])
        yield* sql`INSERT INTO strata_streams (stream, last_version) VALUES ('course-1', 1)`
        const before = yield* sql`SELECT FROM pg_proc WHERE proname = 'strata_dcb_conflict_at'`
        assert.strictEqual(before.length, 0)

        yield* Effect.scoped(
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            // One item, one tag, no types (the check's one-query form): the first event of the tag.
            const own = yield* Effect.flip(
              store.append("course-2", [{ type: "Defined", data: {}, tags: ["course:c1"] }], {
                condition: { failIfEventsMatch: [{ tags: ["course:c1"] }] }
              })
            )
            assert.strictEqual(own._tag, "AppendConditionFailed")
            if (own._tag === "AppendConditionFailed") {
              assert.strictEqual(own.position, defined)
              assert.strictEqual(own.type, "Defined")
              assert.deepStrictEqual(own.tags, ["course:c1"])
            }
            // Several items (the loop): the earliest match of any, with the answer's columns.
            const either = yield* Effect.flip(
              store.append("course-2", [{ type: "Enrolled", data: {}, tags: ["course:c1"] }], {
                condition: {
                  failIfEventsMatch: [{ types: ["Enrolled"], tags: ["student:s1", "course:c1"] }, {
                    tags: ["course:c1"]
                  }],
                  after: defined - 1n
                }
              })
            )
            assert.strictEqual(either._tag, "AppendConditionFailed")
            if (either._tag === "AppendConditionFailed") assert.strictEqual(either.position, defined)
            const after = yield* store.append("course-2", [{ type: "Defined", data: {}, tags: ["course:c2"] }], {
              condition: { failIfEventsMatch: [{ tags: ["course:c1"] }], after: enrolled }
            })
            assert.isTrue(after.position > enrolled)
          }).pipe(Effect.provide(PgStore.layerFromClient()))
        )

        const applied = yield* sql<{ id: number }>`SELECT id FROM strata_migrations WHERE id = 13`
        assert.strictEqual(applied.length, 1)
        // 12's check (an older process may still call it) and 13's answer the same position for the
        // same items, in every form: one tag; types; other tags; several items; nothing after.
        const shapes: ReadonlyArray<readonly [bigint, ReadonlyArray<{ types?: Array<string>; tags: Array<string> }>]> =
          [
            [-1n, [{ tags: ["course:c1"] }]],
            [defined, [{ tags: ["course:c1"] }]],
            [enrolled, [{ tags: ["course:c1"] }]],
            [-1n, [{ types: ["Enrolled"], tags: ["course:c1"] }]],
            [-1n, [{ tags: ["student:s1", "course:c1"] }]],
            [-1n, [{ types: ["Defined"], tags: ["student:s1"] }, { tags: ["course:c1", "student:s1"] }]],
            [-1n, [{ tags: ["course:none"] }]]
          ]
        for (const [after, items] of shapes) {
          const first: Array<string> = []
          const types: Array<string> = []
          const typeEnds: Array<number> = []
          const rest: Array<string> = []
          const restEnds: Array<number> = []
          for (const item of items) {
            const [tag, ...others] = item.tags
            first.push(tag)
            types.push(...(item.types ?? []))
            typeEnds.push(types.length)
            rest.push(...others)
            restEnds.push(rest.length)
          }
          const [old] = yield* sql<{ c_position: string | null }>`SELECT c_position
            FROM strata_dcb_conflict(${after}::bigint, ${first}::text[], ${types}::text[], ${typeEnds}::int[],
            ${rest}::text[], ${restEnds}::int[])`
          const [next] = yield* sql<{ at: string | null }>`SELECT strata_dcb_conflict_at(${after}::bigint,
            ${first}::text[], ${types}::text[], ${typeEnds}::int[], ${rest}::text[], ${restEnds}::int[]) AS at`
          assert.strictEqual(
            next.at === null ? null : String(next.at),
            old.c_position === null ? null : String(old.c_position)
          )
        }
        const expected = [defined, enrolled, null, enrolled, enrolled, enrolled, null]
        const found: Array<bigint | null> = []
        for (const [after, items] of shapes) {
          const [row] = yield* sql<{ c_position: string | null }>`SELECT c_position FROM strata_dcb_first_match(
            ${after}::bigint, ${JSON.stringify(items)}::json)`
          found.push(row.c_position === null ? null : BigInt(row.c_position))
        }
        assert.deepStrictEqual(found, expected)
      }))
  }
)
