/**
 * Dynamic consistency boundaries in SQL, shared by PostgreSQL, SQLite and D1: a query as the positions
 * of its matching events, the first event that fails an append condition, and what an append locks.
 *
 * Every item of a query becomes one index-ordered subquery that stops at `want` rows: an item
 * with tags walks `strata_event_tags` by its first tag ((tag, position) order), filtering its types
 * there and its other tags by key; an item of types only walks the (type, position) index once per
 * type; an item with neither walks the primary key. Their UNION is then at most `want` per item.
 * Types and tags are bound (at most 64). Positions are bound too, so a statement's text repeats from
 * one read or check to the next and the database reuses its prepared statement (PostgreSQL parses
 * and plans a new text, and @effect/sql-pg closes a cached one to make room; SQLite compiles it),
 * except in a query of more than {@link maxBoundSubqueries} subqueries, where they are inlined
 * (validated bigints) to stay under D1's 100 parameters per statement. The row limit is always inlined:
 * it takes a few values only (a page, or 1).
 *
 * @since 0.1.0
 */
import type { EventStore } from "@strata/core"
import type * as Statement from "effect/sql/Statement"

/**
 * Where a query read's page lies.
 *
 * @category models
 * @since 0.1.0
 */
export interface Bounds {
  readonly forwards: boolean
  /** Forwards: the first position to read (inclusive); backwards: the last. */
  readonly cursor: bigint | undefined
  /** No position at or above it (the read horizon). */
  readonly below: bigint | undefined
  readonly want: number
}

/**
 * The most subqueries a query's statement binds its positions in (two each at most: 32 numbers, with
 * at most 64 types and tags, under D1's 100 parameters); past it they are inlined.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxBoundSubqueries = 16

const int = (value: bigint | number) => {
  const n = BigInt(value)
  return n.toString()
}

const range = (sql: Statement.Constructor, column: string, bounds: Bounds, bind: boolean): Statement.Fragment => {
  const clauses: Array<Statement.Fragment> = []
  const at = sql.literal(`${column} ${bounds.forwards ? ">=" : "<="}`)
  const under = sql.literal(`${column} <`)
  if (bounds.cursor !== undefined) {
    clauses.push(
      bind
        ? sql`${at} ${bounds.cursor}`
        : sql.literal(`${column} ${bounds.forwards ? ">=" : "<="} ${int(bounds.cursor)}`)
    )
  }
  if (bounds.below !== undefined) {
    clauses.push(bind ? sql`${under} ${bounds.below}` : sql.literal(`${column} < ${int(bounds.below)}`))
  }
  return clauses.length === 0 ? sql.literal("1 = 1") : sql.and(clauses)
}

// How many subqueries `subqueries` makes of `query`.
const subqueryCount = (query: EventStore.Query) => {
  let n = 0
  for (const item of query) {
    if (item.types !== undefined && item.types.length === 0) continue
    n += (item.tags ?? []).length === 0 && item.types !== undefined ? item.types.length : 1
  }
  return n
}

const order = (bounds: Bounds) => `ORDER BY position ${bounds.forwards ? "ASC" : "DESC"} LIMIT ${int(bounds.want)}`

// One subquery per item (per type for an item of types only), each giving at most `want` positions.
const subqueries = (
  sql: Statement.Constructor,
  query: EventStore.Query,
  bounds: Bounds
): Array<Statement.Fragment> => {
  const parts: Array<Statement.Fragment> = []
  const tail = sql.literal(order(bounds))
  const bind = subqueryCount(query) <= maxBoundSubqueries
  let n = 0
  for (const item of query) {
    const alias = sql.literal(`q${n++}`)
    const tags = item.tags ?? []
    const types = item.types
    if (types !== undefined && types.length === 0) continue
    if (tags.length > 0) {
      const [first, ...others] = tags
      const typeFilter = types === undefined ? sql.literal("1 = 1") : sql.in("t.type", types)
      const rest = others.length === 0
        ? sql.literal("1 = 1")
        : sql.and(
          others.map((tag) =>
            sql`EXISTS (SELECT 1 FROM strata_event_tags AS u WHERE u.tag = ${tag} AND u.position = t.position)`
          )
        )
      parts.push(
        sql`SELECT position FROM (SELECT t.position AS position FROM strata_event_tags AS t WHERE t.tag = ${first} AND ${typeFilter} AND ${
          range(sql, "t.position", bounds, bind)
        } AND ${rest} ${tail}) AS ${alias}`
      )
    } else if (types !== undefined) {
      for (const type of types) {
        const each = sql.literal(`q${n++}`)
        parts.push(
          sql`SELECT position FROM (SELECT position FROM strata_events WHERE type = ${type} AND ${
            range(sql, "position", bounds, bind)
          } ${tail}) AS ${each}`
        )
      }
    } else {
      parts.push(
        sql`SELECT position FROM (SELECT position FROM strata_events WHERE ${
          range(sql, "position", bounds, bind)
        } ${tail}) AS ${alias}`
      )
    }
  }
  return parts
}

/**
 * The positions of the events matching `query` within `bounds` (at most `want` per item), as a
 * subquery to use with `position IN (...)`; undefined when nothing can match (an empty query).
 *
 * @category statements
 * @since 0.1.0
 */
export const positions = (
  sql: Statement.Constructor,
  query: EventStore.Query,
  bounds: Bounds
): Statement.Fragment | undefined => {
  const parts = subqueries(sql, query, bounds)
  return parts.length === 0 ? undefined : sql.join(" UNION ", false)(parts)
}

/**
 * The columns of a conflicting event, for `AppendConditionFailed`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConflictRow {
  readonly position: unknown
  readonly stream: string
  readonly type: string
  readonly tags: unknown
}

/**
 * The first event (in position order) that fails `condition`, as a statement selecting
 * `ConflictRow`s (none when it holds); undefined when nothing can fail it (an empty query).
 *
 * @category statements
 * @since 0.1.0
 */
export const firstConflict = (
  sql: Statement.Constructor,
  condition: EventStore.AppendCondition
): Statement.Statement<ConflictRow> | undefined => {
  const bounds: Bounds = {
    forwards: true,
    cursor: condition.after === undefined ? undefined : condition.after + 1n,
    below: undefined,
    want: 1
  }
  const matching = positions(sql, condition.failIfEventsMatch, bounds)
  return matching === undefined ? undefined : sql<ConflictRow>`SELECT position, stream, type, tags FROM strata_events
    WHERE position IN (${matching}) ORDER BY position ASC LIMIT 1`
}

/**
 * Whether any event fails `condition`, as an SQL boolean expression (for D1's guard row); undefined
 * when nothing can fail it.
 *
 * @category statements
 * @since 0.1.0
 */
export const conflictExists = (
  sql: Statement.Constructor,
  condition: EventStore.AppendCondition
): Statement.Fragment | undefined => {
  const matching = positions(sql, condition.failIfEventsMatch, {
    forwards: true,
    cursor: condition.after === undefined ? undefined : condition.after + 1n,
    below: undefined,
    want: 1
  })
  return matching === undefined ? undefined : sql`EXISTS (${matching})`
}

/**
 * What an append must lock (see `Transactional.lockForDcb`): its events' and its conditions' tags,
 * sorted, and whether a condition has an item without tags.
 *
 * @category statements
 * @since 0.1.0
 */
export const lockKeys = (
  tagsOfEvents: ReadonlyArray<ReadonlyArray<string> | undefined>,
  conditions: ReadonlyArray<EventStore.AppendCondition>
): { readonly tags: ReadonlyArray<string>; readonly everything: boolean } => {
  const tags = new Set<string>()
  let everything = false
  for (const list of tagsOfEvents) if (list !== undefined) { for (const tag of list) tags.add(tag) }
  for (const condition of conditions) {
    for (const item of condition.failIfEventsMatch) {
      if (item.types !== undefined && item.types.length === 0) continue
      if (item.tags === undefined || item.tags.length === 0) everything = true
      else for (const tag of item.tags) tags.add(tag)
    }
  }
  return { tags: [...tags].sort(), everything }
}
