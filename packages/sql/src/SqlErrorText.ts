/**
 * An SqlError as one text, for dialects that classify errors by their words: drivers put the
 * telling part in different places (the reason's message, the error's message, or the driver's own
 * error in `cause`), and D1 reports every database error as an `UnknownError`, so only the text says
 * which constraint failed.
 *
 * @since 0.1.0
 */
import { StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"

/**
 * The reason's message, the error's message and the cause's message (or the cause as a string),
 * joined with spaces, for pattern matching. Not for people: `Startup.describe` words a failure for
 * a reader. Never throws, whatever a driver put in the error (a missing reason, a cause without a
 * prototype, a throwing getter): it runs while a failure is being classified, where a throw would be
 * a defect.
 *
 * @category errors
 * @since 0.1.0
 */
export const errorText = (error: SqlError): string => {
  const reason = attempt(() => error.reason as { readonly message?: unknown; readonly cause?: unknown } | undefined)
  const cause = attempt(() => reason?.cause)
  return [
    text(attempt(() => reason?.message)),
    text(attempt(() => error.message)),
    cause instanceof Error ? text(attempt(() => cause.message)) : text(cause)
  ].join(" ")
}

const attempt = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch {
    return undefined
  }
}

// `String` throws on an object without a prototype (or with a throwing `toString`).
const text = (value: unknown): string => {
  if (value === undefined || value === null) return ""
  if (typeof value === "string") return value
  return attempt(() => String(value)) ?? attempt(() => JSON.stringify(value)) ?? Object.prototype.toString.call(value)
}

// SQLite and D1: "no such table: strata_events" (also "main.strata_events"); PostgreSQL: 42P01
// `relation "strata_events" does not exist`, 42883 `function strata_x(bigint) does not exist`. Only
// Strata's own objects (`strata_` names, which its migrations create) count: a missing table of
// anyone else's is not a store that was never migrated.
const missing = [
  /no such table: (?:\w+\.)?(strata_\w+)/,
  /relation "(?:\w+\.)?(strata_\w+)" does not exist/,
  /function (?:\w+\.)?(strata_\w+)\([^)]*\) does not exist/
]

/**
 * The Strata table (or function) an SqlError says does not exist, or `undefined`: the store's
 * database has not been migrated (a store opened with `migrate: false`, a new database, a
 * PostgreSQL schema no store has started in). Matched on the database's own words (SQLite, D1,
 * PostgreSQL with English messages) and on PostgreSQL's codes 42P01 / 42883 for `strata_` names.
 *
 * @example
 * ```ts
 * import { SqlErrorText } from "@strata/sql"
 * import * as SqlError from "effect/sql/SqlError"
 *
 * const error = new SqlError.SqlError({
 *   reason: new SqlError.UnknownError({ cause: new Error("no such table: strata_events") })
 * })
 * SqlErrorText.missingObject(error) // "strata_events"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const missingObject = (error: SqlError): string | undefined => {
  const text = errorText(error)
  for (const pattern of missing) {
    const found = pattern.exec(text)?.[1]
    if (found !== undefined) return found
  }
  // PostgreSQL with messages in another language: the code says it, the name is still quoted.
  const cause = attempt(() => (error.reason as { readonly cause?: unknown } | undefined)?.cause)
  const code = typeof cause === "object" && cause !== null
    ? attempt(() => (cause as { readonly code?: unknown }).code)
    : undefined
  return code === "42P01" || code === "42883" ? /\b(strata_\w+)/.exec(text)?.[1] : undefined
}

/**
 * What to do about a store whose database has not been migrated, naming the missing object: the
 * reason of the `StoreUnavailable` the SQL store fails with (it starts with `NotMigrated:`).
 *
 * @category errors
 * @since 0.1.0
 */
export const notMigrated = (object: string): string =>
  `NotMigrated: ${object} does not exist, so the store's migrations have not run here: run \`strata migrate\` on this store, or open it with migrate: true`

/**
 * A database error as the store reports it: a transient one (dropped connection, busy database) or a
 * missing Strata table or function ({@link missingObject}: a store nobody migrated) is
 * `StoreUnavailable`; anything else is a bug in Strata and stays a defect.
 *
 * @category errors
 * @since 0.1.0
 */
export const toStoreError = (isTransient: (error: SqlError) => boolean, operation: string) =>
(
  error: SqlError
): Effect.Effect<never, StoreError.StoreUnavailable> => {
  if (isTransient(error)) {
    return Effect.fail(new StoreError.StoreUnavailable({ operation, reason: error.reason._tag, cause: error }))
  }
  const object = missingObject(error)
  return object === undefined
    ? Effect.die(error)
    : Effect.fail(new StoreError.StoreUnavailable({ operation, reason: notMigrated(object), cause: error }))
}
