/**
 * Which database errors say "this store was never migrated": only a missing Strata table or
 * function (SQLite, D1, PostgreSQL in English and by SQLSTATE); anything else stays what it was.
 */
import { assert, describe, it } from "@effect/vitest"
import { SqlErrorText } from "@strata/sql"
import * as SqlError from "effect/sql/SqlError"

const unknown = (cause: unknown) => new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause }) })
// PostgreSQL's driver error: its message, and the SQLSTATE in `code`.
const pg = (message: string, code: string) => unknown(Object.assign(new Error(message), { code }))

describe("SqlErrorText.missingObject", () => {
  it("names the missing Strata table or function", () => {
    assert.strictEqual(SqlErrorText.missingObject(unknown(new Error("no such table: strata_events"))), "strata_events")
    assert.strictEqual(
      SqlErrorText.missingObject(unknown(new Error("D1_ERROR: no such table: main.strata_streams: SQLITE_ERROR"))),
      "strata_streams"
    )
    assert.strictEqual(
      SqlErrorText.missingObject(pg("relation \"orders.strata_documents\" does not exist", "42P01")),
      "strata_documents"
    )
    assert.strictEqual(
      SqlErrorText.missingObject(pg("function strata_append(text, bigint) does not exist", "42883")),
      "strata_append"
    )
    // A server speaking another language: the SQLSTATE says it.
    assert.strictEqual(
      SqlErrorText.missingObject(pg("Relation »strata_events« existiert nicht", "42P01")),
      "strata_events"
    )
  })

  it("leaves everything else alone: other tables, columns, other errors", () => {
    for (
      const error of [
        unknown(new Error("no such table: invoices")),
        pg("relation \"invoices\" does not exist", "42P01"),
        unknown(new Error("no such column: strata_tags")),
        pg("operator does not exist: text = bigint", "42883"),
        unknown(new Error("UNIQUE constraint failed: strata_events.stream, strata_events.version")),
        pg("duplicate key value violates unique constraint \"strata_events_pkey\"", "23505")
      ]
    ) {
      assert.isUndefined(SqlErrorText.missingObject(error), SqlErrorText.errorText(error))
    }
  })

  it("the reason says what to do", () => {
    const reason = SqlErrorText.notMigrated("strata_events")
    assert.match(reason, /^NotMigrated: strata_events does not exist/)
    assert.include(reason, "strata migrate")
    assert.include(reason, "migrate: true")
  })
})

describe("SqlErrorText.errorText", () => {
  it("joins the reason's message, the error's message and the cause's message", () => {
    const error = new SqlError.SqlError({
      reason: new SqlError.UnknownError({
        cause: new Error("UNIQUE constraint failed: t.a"),
        message: "Failed to execute"
      })
    })
    const text = SqlErrorText.errorText(error)
    assert.include(text, "Failed to execute")
    assert.include(text, "UNIQUE constraint failed: t.a")
  })

  it("never throws, whatever shape a driver gives the error", () => {
    const throwing = {
      toString: () => {
        throw new Error("no")
      }
    }
    const shapes: ReadonlyArray<[string, SqlError.SqlError]> = [
      ["a cause without a prototype", unknown(Object.assign(Object.create(null), { code: "SQLITE_BUSY" }))],
      ["a cause whose toString throws", unknown(throwing)],
      ["no cause", unknown(undefined)],
      ["no reason", Object.assign(Object.create(SqlError.SqlError.prototype), { _tag: "SqlError" })]
    ]
    for (const [name, error] of shapes) {
      assert.doesNotThrow(() => SqlErrorText.errorText(error), undefined, name)
      assert.doesNotThrow(() => SqlErrorText.missingObject(error), undefined, name)
    }
    // What a cause without a prototype says still reaches the pattern matching.
    assert.include(SqlErrorText.errorText(shapes[0][1]), "SQLITE_BUSY")
  })
})
