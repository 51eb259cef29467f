import { assert, describe, it } from "@effect/vitest"
import { DocumentQuery } from "@strata/core"
import { DocumentSql, SqliteDialect } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as Statement from "effect/sql/Statement"

// A statement constructor with no connection: fragments compile to text and parameters, and any
// attempt to run one dies, so these tests cannot touch a database.
const sql = Statement.make(Effect.die("no database in this test"), Statement.makeCompilerSqlite(), [], undefined)
const dialect = SqliteDialect.dialect

const compile = (fragment: Statement.Fragment) => sql`${fragment}`.compile()

describe("DocumentSql", () => {
  it.effect("each predicate compiles to a condition on the field's JSON path, values as parameters", () =>
    Effect.gen(function*() {
      const query = yield* DocumentQuery.normalize("people", {
        where: { "address.city": "Oslo", age: { gte: 18 }, tag: { in: ["a", "b"] }, nick: { ne: null } }
      })
      const [text, params] = compile(DocumentSql.where(sql, dialect, "people", query))
      assert.include(text, "collection = ?")
      assert.include(text, "json_extract(data, '$.address.city') = ?")
      assert.include(text, "json_extract(data, '$.age') >= ?")
      assert.include(text, "(CASE WHEN")
      assert.deepStrictEqual(params, ["people", "Oslo", 18, "a", "b"])
    }))

  it.effect("an empty `in` matches nothing", () =>
    Effect.gen(function*() {
      const query = yield* DocumentQuery.normalize("people", { where: { tag: { in: [] } } })
      const [text, params] = compile(DocumentSql.where(sql, dialect, "people", query))
      assert.include(text, "1 = 0")
      assert.deepStrictEqual(params, ["people"])
    }))

  it.effect("ORDER BY sorts each key by (rank, number, string) in its direction, then by id", () =>
    Effect.gen(function*() {
      const query = yield* DocumentQuery.normalize("people", {
        orderBy: [{ field: "age", direction: "desc" }, { field: "name" }]
      })
      const order = DocumentSql.orderBy(dialect, query)
      // Expressions contain commas themselves, so look at the directions in sequence.
      const directions = order.match(/\b(ASC|DESC)\b/g)
      assert.deepStrictEqual(directions, ["DESC", "DESC", "DESC", "ASC", "ASC", "ASC", "ASC"])
      assert.isTrue(order.indexOf("'$.age'") < order.indexOf("'$.name'"))
      assert.isTrue(order.endsWith(", id ASC"))
    }))

  it.effect("without a cursor every row qualifies; after one, the keyset condition has one alternative per key part", () =>
    Effect.gen(function*() {
      const first = yield* DocumentQuery.normalize("people", { orderBy: [{ field: "age", direction: "desc" }] })
      assert.strictEqual(compile(DocumentSql.after(sql, dialect, first))[0], "1 = 1")
      const cursor = DocumentQuery.encodeCursor(first.fingerprint, { values: [42], id: "p-7" })
      const next = yield* DocumentQuery.normalize("people", {
        orderBy: [{ field: "age", direction: "desc" }],
        cursor
      })
      const [text, params] = compile(DocumentSql.after(sql, dialect, next))
      // rank, number, string of the descending key (compared with <), then the id (with >).
      assert.strictEqual(text.split(" OR ").length, 4)
      assert.strictEqual((text.match(/ < \?/g) ?? []).length, 3)
      assert.strictEqual((text.match(/ > \?/g) ?? []).length, 1)
      assert.deepStrictEqual(params.slice(-4), [2, 42, "", "p-7"])
    }))

  it("sortKey orders null < booleans < numbers < strings, as the SQL rank does", () => {
    const keys = [null, false, true, -1, 3.5, "", "a"].map(DocumentSql.sortKey)
    const sorted = [...keys].sort((a, b) => a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0))
    assert.deepStrictEqual(sorted, keys)
  })
})
