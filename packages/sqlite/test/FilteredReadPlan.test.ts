// A filtered readAll must not sort every later match for each page (issue 23): SQLite walks the
// (type, position) index for `type IN (json_each)` and sorts what it finds (USE TEMP B-TREE FOR
// ORDER BY). The test takes the statements readAll issues (a statement transformer) and, for each
// whose plan sorts, counts the rows its WHERE admits: at most a few pages. Before the position
// windows a page sorted every match in the tail (>= 12,000 rows here). A single type is an equality
// and sorts nothing. A list of several that most events match reads its windows after the first
// (once they have narrowed) by position: no sort, no type or category index. A list few events
// match keeps its index in every window: a scan would read ~7 rows per match or more.
import { assert, describe, it } from "@effect/vitest"
import { type Event, EventStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"

const seeded = 100_000
const pageSize = 500

const cases: ReadonlyArray<
  {
    readonly name: string
    readonly options: EventStore.ReadAllOptions
    readonly keep: (e: Event.RecordedEvent) => boolean
    // "scan": windows after the first read by position; "index": every window uses its list's index.
    readonly plan?: "scan" | "index"
  }
> = [
  { name: "one type", options: { filter: { types: ["T1"] } }, keep: (e) => e.type === "T1" },
  {
    name: "two types",
    options: { filter: { types: ["T1", "T3"] } },
    keep: (e) => e.type === "T1" || e.type === "T3",
    plan: "index"
  },
  {
    name: "six types",
    options: { filter: { types: ["T0", "T1", "T2", "T3", "T4", "T5"] } },
    keep: (e) => e.type !== "T6",
    plan: "scan"
  },
  {
    name: "six types, backwards",
    options: { direction: "backwards", filter: { types: ["T1", "T2", "T3", "T4", "T5", "T6"] } },
    keep: (e) => e.type !== "T0",
    plan: "scan"
  },
  {
    name: "four categories",
    options: { filter: { categories: ["cat0", "cat1", "cat2", "cat4"] } },
    keep: (e) => !e.stream.startsWith("cat3-"),
    plan: "scan"
  },
  {
    name: "one stored type of a list",
    options: { filter: { types: ["T2", "absent"] } },
    keep: (e) => e.type === "T2",
    plan: "index"
  },
  { name: "category", options: { filter: { categories: ["cat2"] } }, keep: (e) => e.stream.startsWith("cat2-") },
  {
    name: "stream prefix",
    options: { filter: { streamPrefixes: ["cat3-"] } },
    keep: (e) => e.stream.startsWith("cat3-")
  },
  { name: "partition", options: { filter: { partition: { count: 4, index: 1 } } }, keep: () => true },
  {
    name: "one type, backwards",
    options: { direction: "backwards", filter: { types: ["T4"] } },
    keep: (e) => e.type === "T4"
  }
]

describe("filtered readAll plan (SQLite)", () => {
  it.effect("each page's statement sorts at most a few pages of matches", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      yield* sql`WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < ${seeded})
        INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at, stream_hash)
        SELECT 'seed-' || v, 'cat' || (v % 5) || '-' || (v / 1000), v, 'cat' || (v % 5), 'T' || (v % 7), '{}', '{}', 0,
          v / 1000
        FROM n`
      for (const { keep, name, options, plan } of cases) {
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
        if (plan === "scan") assert.isAtLeast(issued.length, 3, `${name}: a window per page`)
        for (const [i, [text, params]] of issued.entries()) {
          const steps = yield* sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)
          const sorts = steps.some((step) => step.detail.includes("TEMP B-TREE"))
          const indexed = steps.some((step) =>
            /USING (COVERING )?INDEX strata_events_(type|category)_/.test(step.detail)
          )
          // One type is an equality: the (type, position) index gives the order, nothing to sort.
          if (name.startsWith("one type")) assert.isFalse(sorts, `${name}: ${text}`)
          // A dense list: once the windows have narrowed, read by position, nothing sorted.
          if (plan === "scan" && i > 0) {
            assert.isFalse(sorts, `${name}, window ${i}: ${text}`)
            assert.isFalse(indexed, `${name}, window ${i}: ${text}`)
          }
          // A sparse list keeps its index in every window.
          if (plan === "index") assert.isTrue(indexed, `${name}, window ${i}: ${text}`)
          if (!sorts) continue
          // What the sort takes in: every row the WHERE admits (the LIMIT applies after it).
          const where = text.replace(/\s+ORDER BY position (ASC|DESC) LIMIT \?\s*$/, "")
          assert.notStrictEqual(where, text)
          const sorted = yield* sql.unsafe<{ n: number | bigint }>(
            `SELECT count(*) AS n FROM (${where})`,
            params.slice(0, -1)
          )
          assert.isAtMost(Number(sorted[0]!.n), 8 * pageSize, `${name}: ${text}`)
        }
      }
    }).pipe(Effect.provide(SqliteStore.layer({ filename: ":memory:", pageSize }))), { timeout: 30_000 })
})
