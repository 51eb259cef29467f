/**
 * ExpectedVersion's rules as SQL over a `strata_streams` row, for the statements that check and
 * move a stream in one go (PostgreSQL's single-statement append, D1's batch guard). They say the
 * same as `ExpectedVersion.matches`; tombstones are checked apart, since they fail differently. Also
 * the state those rules read from a row, for the code that checks in TypeScript.
 *
 * @since 0.1.0
 */
import type { ExpectedVersion } from "@strata/core"
import type * as Statement from "effect/sql/Statement"
import type { StreamRow } from "./Rows.ts"

/**
 * The state ExpectedVersion checks against, from a stream row (none: the stream never existed).
 *
 * @category guards
 * @since 0.1.0
 */
export const state = (row: StreamRow | undefined): ExpectedVersion.StreamState => {
  const last = row === undefined ? -1n : row.last_version
  return { lastVersion: last < 0n ? undefined : last, deleted: row !== undefined && row.deleted }
}

/**
 * Whether a stream row is tombstoned (no append may ever succeed).
 *
 * @category guards
 * @since 0.1.0
 */
export const tombstoned = (row: StreamRow | undefined): boolean => row !== undefined && row.tombstoned

/**
 * Whether the stream row (columns prefixed with `row`, e.g. `"t."`) accepts `expected`.
 *
 * @category guards
 * @since 0.1.0
 */
export const accepts = (
  sql: Statement.Constructor,
  expected: ExpectedVersion.ExpectedVersion,
  row = ""
): Statement.Fragment => {
  switch (expected._tag) {
    case "Any":
      return sql.literal("1 = 1")
    case "NoStream":
      return sql.literal(`(${row}deleted OR ${row}last_version < 0)`)
    case "StreamExists":
      return sql.literal(`(NOT ${row}deleted AND ${row}last_version >= 0)`)
    case "Exact":
      return sql`(NOT ${sql.literal(row)}deleted AND ${sql.literal(row)}last_version = ${expected.version})`
  }
}
