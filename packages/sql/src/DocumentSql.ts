/**
 * Compiles a normalized document query (`DocumentQuery.normalize`) into SQL fragments: the WHERE
 * clause of its predicates, the keyset condition after its cursor, and its ORDER BY. Pure: it builds
 * fragments with any statement constructor and never runs them, so it is unit-tested without a
 * database.
 *
 * The sort key of a field is a (rank, number, string) triple (see `Dialect.FieldExpressions`):
 * missing/null < booleans < numbers < strings < other; {@link sortKey} is its JavaScript twin, used
 * to encode a cursor's values the way the SQL compares them. Ties are broken by document id in code
 * point order, so every query has one total order and cursors never skip or repeat a document.
 *
 * @since 0.1.0
 */
import type { DocumentQuery, DocumentStore } from "@strata/core"
import type * as Statement from "effect/sql/Statement"
import type { Dialect } from "./Dialect.ts"

/**
 * The (rank, number, string) sort key of a scalar, as the SQL of `Dialect.field` orders it.
 *
 * @category compiling
 * @since 0.1.0
 */
export const sortKey = (value: DocumentStore.Scalar): readonly [number, number, string] =>
  value === null
    ? [0, 0, ""]
    : typeof value === "boolean"
    ? [1, value ? 1 : 0, ""]
    : typeof value === "number"
    ? [2, value, ""]
    : [3, 0, value]

/**
 * One predicate as a condition.
 *
 * @category compiling
 * @since 0.1.0
 */
export const predicate = (
  sql: Statement.Constructor,
  dialect: Dialect,
  predicate: DocumentQuery.Predicate
): Statement.Fragment => {
  const field = dialect.field(predicate.path)
  switch (predicate.op) {
    case "eq":
      return field.equals(sql, predicate.value as DocumentStore.Scalar)
    case "ne":
      return sql`(CASE WHEN ${field.equals(sql, predicate.value as DocumentStore.Scalar)} THEN 1 ELSE 0 END) = 0`
    case "in": {
      const values = predicate.value as ReadonlyArray<DocumentStore.Scalar>
      return values.length === 0 ? sql.literal("1 = 0") : sql.or(values.map((value) => field.equals(sql, value)))
    }
    default:
      return field.compare(sql, predicate.op, predicate.value as string | number)
  }
}

/**
 * The collection and every predicate of the query.
 *
 * @category compiling
 * @since 0.1.0
 */
export const where = (
  sql: Statement.Constructor,
  dialect: Dialect,
  collection: string,
  query: DocumentQuery.NormalizedQuery
): Statement.Fragment =>
  sql.and([sql`collection = ${collection}`, ...query.predicates.map((p) => predicate(sql, dialect, p))])

/**
 * The keyset condition for the rows after the query's cursor (always true without one):
 * (k1 > c1) OR (k1 = c1 AND k2 > c2) OR ... OR (all equal AND id > cursor id), each key compared in
 * its sort direction.
 *
 * @category compiling
 * @since 0.1.0
 */
export const after = (
  sql: Statement.Constructor,
  dialect: Dialect,
  query: DocumentQuery.NormalizedQuery
): Statement.Fragment => {
  if (query.after === undefined) return sql.literal("1 = 1")
  const cursor = query.after
  const parts: Array<{ expr: string; value: unknown; descending: boolean }> = []
  query.orderBy.forEach((key, i) => {
    const field = dialect.field(key.path)
    const [rank, num, str] = sortKey(cursor.values[i])
    parts.push({ expr: field.rank, value: rank, descending: key.descending })
    parts.push({ expr: field.num, value: num, descending: key.descending })
    parts.push({ expr: field.str, value: str, descending: key.descending })
  })
  parts.push({ expr: `id${dialect.binary}`, value: cursor.id, descending: false })
  return sql.or(parts.map((part, i) =>
    sql.and([
      ...parts.slice(0, i).map((earlier) => sql`${sql.literal(earlier.expr)} = ${earlier.value}`),
      sql`${sql.literal(part.expr)} ${sql.literal(part.descending ? "<" : ">")} ${part.value}`
    ])
  ))
}

/**
 * The ORDER BY list: each key's triple in its direction, then the id.
 *
 * @category compiling
 * @since 0.1.0
 */
export const orderBy = (dialect: Dialect, query: DocumentQuery.NormalizedQuery): string =>
  [
    ...query.orderBy.flatMap((key) => {
      const field = dialect.field(key.path)
      const direction = key.descending ? "DESC" : "ASC"
      return [`${field.rank} ${direction}`, `${field.num} ${direction}`, `${field.str} ${direction}`]
    }),
    `id${dialect.binary} ASC`
  ].join(", ")
