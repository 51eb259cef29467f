// A filtered readAll or subscribeAll right after a bulk load (no ANALYZE: no statistics) must not sort every later
// match for each page (issue 23). The test takes the statements readAll issues (a statement
// transformer), runs EXPLAIN ANALYZE on each with its parameters, and bounds what any Sort node
// takes in. Before the position windows, each page sorted every match in the tail (>= 24,000 rows here).
import { assert, layer } from "@effect/vitest"
import { type Event, EventStore } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import { PgTestDatabase } from "./utils.ts"

const seeded = 120_000
const pageSize = 500

interface PlanNode {
  readonly "Node Type": string
  readonly "Actual Rows": number
  readonly Plans?: ReadonlyArray<PlanNode>
}

// The most rows any Sort node of the plan took in.
const sortInput = (node: PlanNode): number =>
  Math.max(
    node["Node Type"] === "Sort" ? Math.max(0, ...(node.Plans ?? []).map((child) => child["Actual Rows"])) : 0,
    ...(node.Plans ?? []).map(sortInput)
  )

const cases: ReadonlyArray<
  {
    readonly name: string
    readonly options: EventStore.ReadAllOptions
    readonly keep: (e: Event.RecordedEvent) => boolean
  }
> = [
  { name: "one type", options: { filter: { types: ["T1"] } }, keep: (e) => e.type === "T1" },
  { name: "two types", options: { filter: { types: ["T1", "T3"] } }, keep: (e) => e.type === "T1" || e.type === "T3" },
  { name: "category", options: { filter: { categories: ["cat2"] } }, keep: (e) => e.stream.startsWith("cat2-") },
  {
    name: "stream prefix",
    options: { filter: { streamPrefixes: ["cat3-"] } },
    keep: (e) => e.stream.startsWith("cat3-")
  },
  { name: "partition", options: { filter: { partition: { count: 4, index: 1 } } }, keep: () => true },
  {
    name: "type and partition",
    options: { filter: { types: ["T2"], partition: { count: 2, index: 0 } } },
    keep: (e) => e.type === "T2"
  },
  {
    name: "one type, backwards",
    options: { direction: "backwards", filter: { types: ["T4"] } },
    keep: (e) => e.type === "T4"
  }
]

layer(PgTestDatabase.layerClient, { timeout: "60 seconds", excludeTestServices: true })(
  "filtered readAll plan without statistics",
  (it) => {
    it.effect("each page's statement sorts at most a few pages of matches", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* Effect.scoped(
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            // A bulk load the way an import or a restore makes one; autovacuum kept off so no
            // statistics appear while the test runs.
            yield* sql`ALTER TABLE strata_events SET (autovacuum_enabled = false)`
            yield* sql`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
            SELECT gen_random_uuid(), 'cat' || (v % 5) || '-' || (v / 1000), v, 'cat' || (v % 5), 'T' || (v % 7),
              '{}'::json, '{}'::json, now()
            FROM generate_series(1, ${seeded}::bigint) v`
            const stats = yield* sql<{ tuples: number }>`SELECT reltuples AS tuples FROM pg_class
            WHERE relname = 'strata_events'`
            assert.strictEqual(Number(stats[0]?.tuples), -1, "the table must have no statistics")

            for (const { keep, name, options } of cases) {
              const issued: Array<readonly [string, ReadonlyArray<unknown>]> = []
              const record: Statement.Transformer = (statement) =>
                Effect.sync(() => {
                  const [text, params] = statement.compile()
                  if (/FROM strata_events\s+WHERE position/.test(text)) issued.push([text, params])
                  return statement
                })
              const from = options.direction === "backwards" ? undefined : 20_000n
              const got = yield* Stream.runCollect(store.readAll({ ...options, from, limit: 3 * pageSize })).pipe(
                Effect.provideService(Statement.CurrentTransformer, record)
              )
              assert.strictEqual(got.length, 3 * pageSize, name)
              for (let i = 1; i < got.length; i++) {
                const [before, after] = [got[i - 1]!.position, got[i]!.position]
                assert.isTrue(options.direction === "backwards" ? before > after : before < after, name)
              }
              assert.isTrue(got.every(keep), name)
              assert.isAtMost(issued.length, 12, `${name}: statements for 3 pages`)
              for (const [text, params] of issued) {
                const rows = yield* sql.unsafe<{ "QUERY PLAN": ReadonlyArray<{ Plan: PlanNode }> }>(
                  `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
                  params
                )
                const plan = rows[0]!["QUERY PLAN"][0]!.Plan
                assert.isAtMost(sortInput(plan), 8 * pageSize, `${name}: ${JSON.stringify(plan)}`)
              }
            }

            // A filtered subscription's catch-up (a consumer or projection after a bulk load) too.
            for (const { keep, name, options } of cases.filter((c) => c.options.direction === undefined)) {
              const issued: Array<readonly [string, ReadonlyArray<unknown>]> = []
              const record: Statement.Transformer = (statement) =>
                Effect.sync(() => {
                  const [text, params] = statement.compile()
                  if (/FROM strata_events\s+WHERE position/.test(text)) issued.push([text, params])
                  return statement
                })
              const got = yield* Stream.runCollect(
                store.subscribeAll({ from: { after: 20_000n }, filter: options.filter }).pipe(Stream.take(3 * pageSize))
              ).pipe(Effect.provideService(Statement.CurrentTransformer, record))
              assert.strictEqual(got.length, 3 * pageSize, `subscribeAll ${name}`)
              assert.isTrue(got.every(keep), `subscribeAll ${name}`)
              for (const [text, params] of issued) {
                const rows = yield* sql.unsafe<{ "QUERY PLAN": ReadonlyArray<{ Plan: PlanNode }> }>(
                  `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
                  params
                )
                const plan = rows[0]!["QUERY PLAN"][0]!.Plan
                assert.isAtMost(sortInput(plan), 8 * pageSize, `subscribeAll ${name}: ${JSON.stringify(plan)}`)
              }
            }
          }).pipe(Effect.provide(PgStore.layerFromClient({ pageSize })))
        )
      }), { timeout: 30_000 })
  }
)
