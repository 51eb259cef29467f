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
