// The SQLite client's caches (issue 23): each statement shape is compiled once, and prepared
// statements are reused with the modes they last ran with. What must not change: the SQL and binds of
// every statement, rows as objects or values as asked, big integers where asked, and correct results
// once a cache is full or starts over.
import { assert, describe, it } from "@effect/vitest"
import { SqliteClient } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Client from "effect/sql/SqlClient"
import * as Statement from "effect/sql/Statement"
import * as String from "effect/String"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as CompileCache from "../src/internal/compileCache.ts"

const client = (config: SqliteClient.SqliteClientConfig) =>
  SqliteClient.make(config).pipe(Effect.provide(Reactivity.layer))

// A constructor over no connection: statements only compile.
const constructor = (compiler: Statement.Compiler) =>
  Statement.make(Effect.die("no connection"), compiler, [], undefined, undefined)

describe("SqliteClient caches", () => {
  describe("compile cache", () => {
    it("gives the SQL and binds of the plain compiler for every shape, with new values each time", () => {
      const plain = Statement.makeCompilerSqlite()
      const cached = CompileCache.make(plain)
      const sql = constructor(cached)
      const reference = constructor(plain)
      const shapes = (s: Statement.Constructor, n: number, table: string) => [
        s`INSERT INTO ${s(table)} (a, b) VALUES (${n}, ${`v${n}`}) ON CONFLICT (a) DO UPDATE SET b = ${s(table)}.b`,
        s`SELECT * FROM ${s(table)} WHERE a IN ${s.in([n, n + 1])} AND b = ${"x"}`,
        s`SELECT ${n}`,
        s.unsafe(`SELECT ? + ?`, [n, 2]),
        s`UPDATE t SET ${s.update({ a: n, b: "u" })} WHERE a = ${n}`,
        s`SELECT * FROM t WHERE ${s.and([s`a = ${n}`, s`b = ${"y"}`])}`
      ]
      for (let round = 0; round < 3; round++) {
        for (const table of ["t1", "weird \"name\".x"]) {
          const got = shapes(sql, round, table).map((statement) => statement.compile())
          const want = shapes(reference, round, table).map((statement) => statement.compile())
          assert.deepStrictEqual(got, want)
        }
      }
    })

    it("hands out the same SQL string for one shape (what the prepared-statement cache finds)", () => {
      const sql = constructor(CompileCache.make(Statement.makeCompilerSqlite()))
      const [first] = sql`SELECT * FROM ${sql("t")} WHERE a = ${1}`.compile()
      const [second, binds] = sql`SELECT * FROM ${sql("t")} WHERE a = ${2}`.compile()
      assert.strictEqual(first, second)
      assert.deepStrictEqual(binds, [2])
    })

    it("an identifier and a literal of the same text are different shapes", () => {
      const sql = constructor(CompileCache.make(Statement.makeCompilerSqlite()))
      const identifier = sql`SELECT * FROM ${sql("t")}`.compile()[0]
      const literal = sql`SELECT * FROM ${sql.literal("t")}`.compile()[0]
      assert.deepStrictEqual([identifier, literal], [`SELECT * FROM "t"`, "SELECT * FROM t"])
    })

    it("keeps transformed and untransformed identifiers apart", () => {
      const sql = constructor(CompileCache.make(Statement.makeCompilerSqlite(String.camelToSnake)))
      const statement = sql`SELECT ${sql("streamId")} FROM t`
      assert.strictEqual(statement.compile(true)[0], `SELECT "streamId" FROM t`)
      assert.strictEqual(statement.compile(false)[0], `SELECT "stream_id" FROM t`)
      assert.strictEqual(sql`SELECT ${sql("streamId")} FROM t`.compile(true)[0], `SELECT "streamId" FROM t`)
    })

    it("starts over past its bound on characters and stays correct", () => {
      const sql = constructor(CompileCache.make(Statement.makeCompilerSqlite(), 1_000_000, 100))
      for (let i = 0; i < 50; i++) {
        const text = `SELECT '${"x".repeat(40 + i)}', ?`
        assert.deepStrictEqual(sql.unsafe(text, [i]).compile(), [text, [i]])
        assert.deepStrictEqual(sql.unsafe(text, [i + 1]).compile(), [text, [i + 1]])
      }
    })

    it("starts over past its bound and stays correct", () => {
      const sql = constructor(CompileCache.make(Statement.makeCompilerSqlite(), 10))
      for (let i = 0; i < 200; i++) {
        const [text, binds] = sql.unsafe(`SELECT ${i}, ?`, [i]).compile()
        assert.deepStrictEqual([text, binds], [`SELECT ${i}, ?`, [i]])
        const [again] = sql`SELECT ${i} FROM ${sql(`t${i % 7}`)}`.compile()
        assert.strictEqual(again, `SELECT ? FROM "t${i % 7}"`)
      }
    })
  })

  describe("prepared statements", () => {
    it.effect("a full cache evicts and re-prepares: every statement still returns its own rows", () =>
      Effect.gen(function*() {
        const sql = yield* client({ filename: ":memory:", prepareCacheSize: 2 })
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)`
        yield* sql`INSERT INTO t ${sql.insert([{ id: 1, name: "a" }, { id: 2, name: "b" }, { id: 3, name: "c" }])}`
        for (let round = 0; round < 20; round++) {
          const id = 1 + (round % 3)
          // Five shapes through a cache of two, the first one far more often (kept by second chance).
          for (let i = 0; i < 3; i++) {
            assert.deepStrictEqual(yield* sql`SELECT name FROM t WHERE id = ${id}`, [{ name: "abc"[id - 1] }])
          }
          assert.deepStrictEqual(yield* sql`SELECT id FROM t WHERE name = ${"abc"[id - 1]}`, [{ id }])
          assert.deepStrictEqual(yield* sql`SELECT count(*) AS n FROM t WHERE id <= ${id}`, [{ n: id }])
          assert.deepStrictEqual(yield* sql`SELECT ${id} AS v`, [{ v: id }])
          assert.deepStrictEqual(yield* sql`SELECT name FROM t WHERE id > ${id} ORDER BY id`.values, [
            ..."abc".slice(id).split("").map((name) => [name])
          ])
        }
      }).pipe(Effect.scoped))

    it.effect("one statement run as values, rows, big integers and numbers in turn: each as asked", () =>
      Effect.gen(function*() {
        const sql = yield* client({ filename: ":memory:" })
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, big INTEGER)`
        yield* sql`INSERT INTO t (id, big) VALUES (1, 7)`
        const select = () => sql<{ id: number; big: number }>`SELECT id, big FROM t`
        for (let round = 0; round < 2; round++) {
          assert.deepStrictEqual(yield* select().values, [[1, 7]])
          assert.deepStrictEqual(yield* select(), [{ id: 1, big: 7 }])
          assert.deepStrictEqual(yield* Effect.provideService(select(), Client.SafeIntegers, true), [
            { id: 1n, big: 7n }
          ] as unknown)
          assert.deepStrictEqual(yield* Effect.provideService(select().values, Client.SafeIntegers, true), [[1n, 7n]])
          assert.deepStrictEqual(yield* select(), [{ id: 1, big: 7 }])
        }
      }).pipe(Effect.scoped))

    it.effect("writeSync gets rows as objects from a statement last run as values", () =>
      Effect.gen(function*() {
        const sql = yield* client({ filename: ":memory:" })
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY)`
        yield* sql`INSERT INTO t (id) VALUES (1)`
        const text = "SELECT id FROM t WHERE id = ?"
        assert.deepStrictEqual(yield* sql.unsafe(text, [1]).values, [[1]])
        const row = yield* sql.writeSync("read", ({ prepare }) => {
          const statement = prepare(text)
          statement.setReadBigInts(true)
          return { ...statement.get(1) }
        })
        assert.deepStrictEqual(row, { id: 1n })
        // and the client's own next run sets the modes it needs again
        assert.deepStrictEqual(yield* sql.unsafe(text, [1]), [{ id: 1 }])
      }).pipe(Effect.scoped))

    it.effect("rows are plain objects named by the statement's current columns, after DDL from here or elsewhere", () =>
      Effect.gen(function*() {
        const dir = yield* Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "strata-rows-")))
        const filename = path.join(dir, "rows.db")
        const sql = yield* client({ filename })
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)`
        yield* sql`INSERT INTO t (id, a) VALUES (1, 'x')`
        const select = () => sql<Record<string, unknown>>`SELECT * FROM t`
        const [first] = yield* select()
        assert.deepStrictEqual(first, { id: 1, a: "x" })
        assert.strictEqual(Object.getPrototypeOf(first), Object.prototype)
        // DDL through this client: same width, new names
        yield* sql`ALTER TABLE t RENAME COLUMN a TO b`
        assert.deepStrictEqual(yield* select(), [{ id: 1, b: "x" }])
        // DDL through another connection: SQLite re-prepares the cached statement, one column wider
        const other = new DatabaseSync(filename)
        other.exec("ALTER TABLE t ADD COLUMN c INTEGER DEFAULT 5")
        other.close()
        assert.deepStrictEqual(yield* select(), [{ id: 1, b: "x", c: 5 }])
        // repeated names keep the last, as node:sqlite's objects do; `__proto__` is a column, not a prototype
        assert.deepStrictEqual(yield* sql`SELECT 1 AS k, 2 AS k`, [{ k: 2 }])
        const [odd] = yield* sql<Record<string, unknown>>`SELECT 3 AS "__proto__", 4 AS z`
        assert.strictEqual(Object.getPrototypeOf(odd), Object.prototype)
        assert.deepStrictEqual(Object.entries(odd!), [["__proto__", 3], ["z", 4]])
        yield* Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      }).pipe(Effect.scoped))
  })
})
