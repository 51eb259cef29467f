/**
 * The SQLite dialect, shared by the embedded backend and Cloudflare D1: JSON as text, times as epoch
 * milliseconds, `json_extract` expression indexes for documents. SQLite has one writer at a time,
 * so rowid order is commit order and no extra locking is needed for a gap-free log.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Dialect, FieldExpressions } from "./Dialect.ts"
import * as SqliteMigrations from "./SqliteMigrations.ts"
import * as Startup from "./Startup.ts"

const field = (path: ReadonlyArray<string>): FieldExpressions => {
  // Paths are validated identifiers, so the JSON path can be inlined (and match declared indexes).
  const p = `'$.${path.join(".")}'`
  const x = `json_extract(data, ${p})`
  const type = `json_type(data, ${p})`
  return {
    rank:
      `(CASE ${type} WHEN 'true' THEN 1 WHEN 'false' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 WHEN 'array' THEN 4 WHEN 'object' THEN 4 ELSE 0 END)`,
    num: `(CASE ${type} WHEN 'integer' THEN ${x} WHEN 'real' THEN ${x} WHEN 'true' THEN 1 ELSE 0 END)`,
    str: `(CASE ${type} WHEN 'text' THEN ${x} ELSE '' END)`,
    indexed: [x],
    equals: (sql, value) => {
      if (value === null) return sql.literal(`(${type} IS NULL OR ${type} = 'null')`)
      if (typeof value === "boolean") return sql.literal(`(${type} = '${value ? "true" : "false"}')`)
      return typeof value === "number"
        ? sql`(${sql.literal(`${type} IN ('integer', 'real') AND ${x} =`)} ${value})`
        : sql`(${sql.literal(`${type} = 'text' AND ${x} =`)} ${value})`
    },
    compare: (sql, op, value) => {
      const operator = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op]
      return typeof value === "number"
        ? sql`(${sql.literal(`${type} IN ('integer', 'real') AND ${x} ${operator}`)} ${value})`
        : sql`(${sql.literal(`${type} = 'text' AND ${x} ${operator}`)} ${value})`
    }
  }
}

/**
 * @category dialects
 * @since 0.1.0
 */
export const dialect: Dialect = {
  name: "sqlite",
  migrations: SqliteMigrations.migrations,
  write: {
    _tag: "Transactional",
    // The write transaction (BEGIN IMMEDIATE) already excludes every other writer.
    lockStreams: (sql, streams) => sql`SELECT * FROM strata_streams WHERE ${sql.in("stream", streams)}`,
    beforeInsert: () => Effect.void,
    lockMigrations: () => Effect.void,
    // No appendOne here (the statement path, any SqlClient); SqliteAppend's synchronous write, added
    // over this strategy, writes tagged binary events and checks conditions with them.
    appendOneBinaryDcb: true
  },
  time: (millis) => millis,
  decodeTime: (value) => new Date(Number(value)),
  document: (sql, text) => sql`${text}`,
  // "{}" is what an event without metadata stores: a fresh object without the parser.
  decodeJson: (value) => typeof value === "string" ? (value === "{}" ? {} : JSON.parse(value)) : value,
  binary: "",
  maxInteger: 9_223_372_036_854_775_807n,
  maxParams: 32_766,
  isTransient: (error) => error.isRetryable || /SQLITE_BUSY|SQLITE_LOCKED|database is locked/i.test(error.message),
  explainStartup: (error) =>
    /unable to open database file|SQLITE_CANTOPEN|readonly database|SQLITE_READONLY/i.test(Startup.describe(error))
      ? {
        problem: "the database file cannot be opened or written",
        hint: "Check that its directory exists and that this process may write there."
      }
      : { problem: Startup.describe(error), hint: "Check the file and the migrations it holds." },
  isUniqueViolation: (error) =>
    error.reason._tag === "UniqueViolation" ||
    /UNIQUE constraint failed/.test(String(error.reason.message ?? error.message)),
  field,
  createIndex: (collection, name, expressions) =>
    `CREATE INDEX IF NOT EXISTS ${name} ON strata_documents (collection, ${
      expressions.join(", ")
    }) WHERE collection = '${collection}'`
}
