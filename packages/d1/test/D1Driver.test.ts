// Probe tests: they pin the @effect/sql-d1 rc.118 / Miniflare D1 behaviour the store relies on. When one of these
// fails after an upgrade, the store's assumptions (listed at the top of utils.ts) need revisiting.
import * as D1Client from "@effect/sql-d1/D1Client"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import { D1TestDatabase } from "./utils.ts"

/** The message of the native D1 error a SqlError wraps (its reason's cause). */
const nativeMessage = (error: SqlError.SqlError): string => {
  const cause = error.reason.cause
  assert.instanceOf(cause, Error)
  return cause instanceof Error ? cause.message : ""
}

const uniqueViolation = (table: string) =>
  `D1_ERROR: UNIQUE constraint failed: ${table}.stream, ${table}.version: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_UNIQUE)`

const count = (sql: D1Client.D1Client, table: string) =>
  Effect.map(sql<{ n: number }>`SELECT count(*) AS n FROM ${sql(table)}`, (rows) => rows[0]!.n)

// An anonymous it.layer builds the (cached) layer in a beforeEach: if Miniflare cannot start, every test FAILS
// with the setup error (a named it.layer would use beforeAll, and vitest reports those tests as skipped).
describe("D1Driver", () =>
  it.layer(D1TestDatabase.layerClient, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("the rc.118 client runs on effect 4.1.0: D1Client and SqlClient are the same client", () =>
      Effect.gen(function*() {
        const d1 = yield* D1Client.D1Client
        const sql = yield* SqlClient.SqlClient
        assert.strictEqual(d1 as unknown, sql)
        assert.strictEqual(d1[D1Client.TypeId], "~@effect/sql-d1/D1Client")
        assert.isFunction(d1.batch)
        const rows = yield* sql<{ one: number }>`SELECT 1 AS one`
        assert.deepStrictEqual(rows, [{ one: 1 }])
      }))

    it.effect("insert and query, RETURNING, sql.insert helper", () =>
      Effect.gen(function*() {
        const sql = yield* D1Client.D1Client
        yield* sql`CREATE TABLE basic (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`
        const inserted = yield* sql<{ id: number; name: string }>`
          INSERT INTO basic ${sql.insert([{ name: "a" }, { name: "b" }])} RETURNING id, name
        `
        assert.deepStrictEqual(inserted, [{ id: 1, name: "a" }, { id: 2, name: "b" }])
        const rows = yield* sql<{ name: string }>`SELECT name FROM basic WHERE id > ${1} ORDER BY id`
        assert.deepStrictEqual(rows, [{ name: "b" }])
      }))

    it.effect("withTransaction is a defect ('transactions are not supported in D1'); the body never runs", () =>
      Effect.gen(function*() {
        const sql = yield* D1Client.D1Client
        let ran = false
        const exit = yield* Effect.exit(sql.withTransaction(Effect.sync(() => {
          ran = true
        })))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.hasFails(exit.cause)) // not a typed SqlError: catchTag cannot see it
          assert.deepStrictEqual(
            exit.cause.reasons.map((r) => Cause.isDieReason(r) ? r.defect : r._tag),
            ["transactions are not supported in D1"]
          )
        }
        assert.isFalse(ran)
      }))

    it.effect("a UNIQUE violation is SqlError(UnknownError) whose cause message names the columns", () =>
      Effect.gen(function*() {
        const sql = yield* D1Client.D1Client
        yield* sql`CREATE TABLE events (stream TEXT NOT NULL, version INTEGER NOT NULL, UNIQUE (stream, version))`
        yield* sql`INSERT INTO events (stream, version) VALUES ('s', 0)`
        const error = yield* Effect.flip(sql`INSERT INTO events (stream, version) VALUES ('s', 0)`)
        assert.isTrue(SqlError.isSqlError(error))
        // No classification: every D1 failure is UnknownError, not retryable, and the reason's message is generic.
        assert.strictEqual(error.reason._tag, "UnknownError")
        assert.strictEqual(error.reason.message, "Failed to execute statement")
        assert.isFalse(error.isRetryable)
        assert.strictEqual(nativeMessage(error), uniqueViolation("events"))
        // So catchReason on UniqueViolation never fires on D1: the store must match the message.
        const caught = yield* sql`INSERT INTO events (stream, version) VALUES ('s', 0)`.pipe(
          Effect.as("inserted"),
          Effect.catchReason("SqlError", "UniqueViolation", () => Effect.succeed("unique")),
          Effect.catchTag("SqlError", () => Effect.succeed("other"))
        )
        assert.strictEqual(caught, "other")

        // Primary keys, NOT NULL and CHECK say so in the same shape (extended code last).
        yield* sql`CREATE TABLE pk (id INTEGER PRIMARY KEY)`
        yield* sql`INSERT INTO pk VALUES (1)`
        assert.strictEqual(
          nativeMessage(yield* Effect.flip(sql`INSERT INTO pk VALUES (1)`)),
          "D1_ERROR: UNIQUE constraint failed: pk.id: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_PRIMARYKEY)"
        )
        assert.strictEqual(
          nativeMessage(yield* Effect.flip(sql`INSERT INTO events (stream, version) VALUES (NULL, 1)`)),
          "D1_ERROR: NOT NULL constraint failed: events.stream: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_NOTNULL)"
        )
      }))

    it.effect("D1Client.batch is atomic: a conflicting statement rolls back the whole batch", () =>
      Effect.gen(function*() {
        const sql = yield* D1Client.D1Client
        yield* sql`CREATE TABLE batch_events (stream TEXT NOT NULL, version INTEGER NOT NULL, UNIQUE (stream, version))`
        yield* sql`CREATE TABLE batch_streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL)`

        const ok = yield* sql.batch([
          sql`INSERT INTO batch_streams (stream, version) VALUES ('a', 1)`,
          sql`INSERT INTO batch_events (stream, version) VALUES ('a', 0), ('a', 1) RETURNING version`,
          sql`SELECT count(*) AS n FROM batch_events`
        ])
        assert.deepStrictEqual(ok, [[], [{ version: 0 }, { version: 1 }], [{ n: 2 }]])

        // The first two statements succeed on their own; the third conflicts: nothing of the batch remains.
        const error = yield* Effect.flip(sql.batch([
          sql`UPDATE batch_streams SET version = 2 WHERE stream = 'a'`,
          sql`INSERT INTO batch_events (stream, version) VALUES ('b', 0)`,
          sql`INSERT INTO batch_events (stream, version) VALUES ('a', 1)`
        ]))
        assert.strictEqual(error.reason._tag, "UnknownError")
        assert.strictEqual(error.reason.message, "Failed to execute batch")
        assert.strictEqual(nativeMessage(error), uniqueViolation("batch_events"))
        assert.strictEqual(yield* count(sql, "batch_events"), 2)
        assert.deepStrictEqual(yield* sql`SELECT stream, version FROM batch_streams`, [{ stream: "a", version: 1 }])

        // The raw binding behaves the same (the client's batch is a thin wrapper over D1Database.batch).
        const { db } = yield* D1TestDatabase
        const raw = yield* Effect.flip(Effect.tryPromise(() =>
          db.batch([
            db.prepare("INSERT INTO batch_events (stream, version) VALUES ('c', 0)"),
            db.prepare("INSERT INTO batch_events (stream, version) VALUES ('a', 0)")
          ])
        ))
        assert.include(String(raw.cause), "UNIQUE constraint failed: batch_events.stream, batch_events.version")
        assert.strictEqual(yield* count(sql, "batch_events"), 2)
      }))

    it.effect("an expected-version guard inside a batch: a named CHECK constraint fails the batch with its name", () =>
      Effect.gen(function*() {
        // One way for the store to make a batch enforce its expected version (design.md section 5): insert a
        // row whose CHECK holds only when the stream is at the expected version. RAISE() is only allowed in
        // triggers, so a plain SELECT cannot abort; a trigger's RAISE(ABORT, msg) works too (pinned below).
        const sql = yield* D1Client.D1Client
        yield* sql`CREATE TABLE guard_streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL)`
        yield* sql`CREATE TABLE version_guard (ok INTEGER NOT NULL, CONSTRAINT strata_wrong_expected_version CHECK (ok))`
        yield* sql`INSERT INTO guard_streams VALUES ('a', 3)`
        const append = (expected: number) =>
          sql.batch([
            sql`INSERT INTO version_guard VALUES (coalesce((SELECT version FROM guard_streams WHERE stream = 'a'), -1) = ${expected})`,
            sql`UPDATE guard_streams SET version = version + 1 WHERE stream = 'a'`,
            sql`DELETE FROM version_guard`
          ])
        const error = yield* Effect.flip(append(2))
        assert.strictEqual(
          nativeMessage(error),
          "D1_ERROR: CHECK constraint failed: strata_wrong_expected_version: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_CHECK)"
        )
        assert.deepStrictEqual(yield* sql`SELECT version FROM guard_streams`, [{ version: 3 }])
        yield* append(3)
        assert.deepStrictEqual(yield* sql`SELECT version FROM guard_streams`, [{ version: 4 }])

        const notInTrigger = yield* Effect.flip(sql`SELECT RAISE(ABORT, 'nope')`)
        assert.include(nativeMessage(notInTrigger), "RAISE() may only be used within a trigger-program")
        yield* sql.unsafe(
          "CREATE TRIGGER guard_streams_guard BEFORE UPDATE ON guard_streams WHEN NEW.version < OLD.version " +
            "BEGIN SELECT RAISE(ABORT, 'strata:wrong_expected_version'); END"
        )
        assert.strictEqual(
          nativeMessage(yield* Effect.flip(sql`UPDATE guard_streams SET version = 0`)),
          "D1_ERROR: strata:wrong_expected_version: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_TRIGGER)"
        )
      }))

    it.effect("INTEGER comes back as number; bigint parameters are rejected; above 2^53 precision is lost", () =>
      Effect.gen(function*() {
        const sql = yield* D1Client.D1Client
        yield* sql`CREATE TABLE nums (n INTEGER NOT NULL)`
        yield* sql`INSERT INTO nums VALUES (${Number.MAX_SAFE_INTEGER})`
        const rows = yield* sql<{ n: unknown; t: string }>`SELECT n, typeof(n) AS t FROM nums`
        assert.strictEqual(rows[0]!.n, Number.MAX_SAFE_INTEGER)
        assert.strictEqual(rows[0]!.t, "integer")

        const error = yield* Effect.flip(sql`SELECT ${1n} AS x`)
        assert.strictEqual(error.reason._tag, "UnknownError")
        assert.strictEqual(nativeMessage(error), "D1_TYPE_ERROR: Type 'bigint' not supported for value '1'")

        // 2^53 + 1 stored as an SQLite integer still reads back as the nearest double.
        const [big] = yield* sql<{ x: number; t: string }>`SELECT 9007199254740993 AS x, typeof(9007199254740993) AS t`
        assert.strictEqual(big!.t, "integer")
        assert.strictEqual(big!.x, 9_007_199_254_740_992)
      }))

    it.effect("JSON functions work (json_extract, ->>, json_group_array) and RETURNING works in a batch", () =>
      Effect.gen(function*() {
        const sql = yield* D1Client.D1Client
        yield* sql`CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`
        const body = { type: "Opened", nested: { n: 2, list: ["x", "y"] } }
        const [inserted] = yield* sql.batch([
          sql`INSERT INTO docs (body) VALUES (${
            JSON.stringify(body)
          }) RETURNING id, json_extract(body, '$.type') AS type`
        ])
        assert.deepStrictEqual(inserted, [{ id: 1, type: "Opened" }])
        const rows = yield* sql<{ n: number; second: string; nested: string; all: string }>`
          SELECT json_extract(body, '$.nested.n') AS n,
                 body ->> '$.nested.list[1]' AS second,
                 body -> '$.nested' AS nested,
                 (SELECT json_group_array(json_extract(body, '$.type')) FROM docs) AS "all"
          FROM docs WHERE json_extract(body, '$.type') = ${"Opened"}
        `
        assert.deepStrictEqual(rows, [{ n: 2, second: "y", nested: JSON.stringify(body.nested), all: "[\"Opened\"]" }])
      }))
  }))
