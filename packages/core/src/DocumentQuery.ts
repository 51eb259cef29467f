/**
 * Validation, evaluation and cursors for DocumentStore queries, shared by every backend so a query
 * is accepted, rejected and paged the same way everywhere. SQL backends compile the normalised form;
 * the in-memory backend evaluates it with {@link matches} and {@link compareKeys}.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Collection, Condition, Document, OrderBy, Page, Query, Scalar, Where } from "./DocumentStore.ts"
import * as Json from "./internal/json.ts"
import { InvalidQuery } from "./StoreError.ts"
import * as StreamName from "./StreamName.ts"

/**
 * A field path segment: an identifier. Anything else (quotes, operators, brackets) is refused, so
 * a field name can never carry SQL or a JSON-path expression.
 *
 * @category validation
 * @since 0.1.0
 */
export const fieldPathPattern = /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/

/**
 * Collection names: identifiers, so backends may use them in index names.
 *
 * @category validation
 * @since 0.1.0
 */
export const collectionNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * The largest `in` list accepted.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxInValues = 1000

/**
 * @category models
 * @since 0.1.0
 */
export type Operator = "eq" | "ne" | "gt" | "gte" | "lt" | "lte" | "in"

/**
 * @category models
 * @since 0.1.0
 */
export interface Predicate {
  readonly field: string
  readonly path: ReadonlyArray<string>
  readonly op: Operator
  /** A scalar, or for `in` an array of scalars. */
  readonly value: Scalar | ReadonlyArray<Scalar>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SortKey {
  readonly field: string
  readonly path: ReadonlyArray<string>
  readonly descending: boolean
}

/**
 * @category models
 * @since 0.1.0
 */
export interface CursorPosition {
  readonly values: ReadonlyArray<Scalar>
  readonly id: string
}

/**
 * A validated query.
 *
 * @category models
 * @since 0.1.0
 */
export interface NormalizedQuery {
  readonly predicates: ReadonlyArray<Predicate>
  readonly orderBy: ReadonlyArray<SortKey>
  readonly limit: number | undefined
  readonly after: CursorPosition | undefined
  /** Identifies where + orderBy, so a cursor cannot be replayed against another query. */
  readonly fingerprint: string
}

const operators: ReadonlySet<string> = new Set(["eq", "ne", "gt", "gte", "lt", "lte", "in"])

// Strings must be well-formed Unicode: the SQL backends bind a lone surrogate as U+FFFD.
const isScalar = (value: unknown): value is Scalar =>
  value === null || (typeof value === "string" && Json.isWellFormed(value)) || typeof value === "boolean" ||
  (typeof value === "number" && Number.isFinite(value))

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)

/**
 * Checks a collection name.
 *
 * @category validation
 * @since 0.1.0
 */
export const collectionProblem = (name: unknown): string | undefined =>
  typeof name === "string" && collectionNamePattern.test(name)
    ? undefined
    : `collection name ${JSON.stringify(name)} must be an identifier (letters, digits, _; at most 63)`

/**
 * Checks a document id: the stream-name rules, `$` allowed.
 *
 * @category validation
 * @since 0.1.0
 */
export const documentIdProblem = (id: unknown): string | undefined => {
  if (typeof id !== "string") return "the id must be a string"
  const problem = StreamName.problem(id.startsWith("$") ? `x${id}` : id)
  return problem === undefined ? undefined : `the id is not valid: ${problem}`
}

/**
 * Validates a query and resolves its cursor.
 *
 * @category validation
 * @since 0.1.0
 */
export const normalize = (collection: string, query: Query | undefined): Effect.Effect<NormalizedQuery, InvalidQuery> =>
  Effect.suspend(() => {
    const fail = (detail: string) => Effect.fail(new InvalidQuery({ collection, detail }))
    const collectionIssue = collectionProblem(collection)
    if (collectionIssue !== undefined) return fail(collectionIssue)
    if (query !== undefined && !isPlainObject(query)) return fail("the query must be an object")
    const predicates: Array<Predicate> = []
    const where: unknown = query?.where ?? {}
    if (!isPlainObject(where)) return fail("`where` must be an object of field paths")
    for (const [field, condition] of Object.entries(where as Where)) {
      if (!fieldPathPattern.test(field)) {
        return fail(`field ${JSON.stringify(field)} is not a plain path like "total" or "address.city"`)
      }
      const path = field.split(".")
      if (isScalar(condition)) {
        predicates.push({ field, path, op: "eq", value: condition })
        continue
      }
      if (!isPlainObject(condition)) {
        return fail(`condition on ${field} must be a scalar or an object of operators`)
      }
      const entries = Object.entries(condition as Condition).filter(([, value]) => value !== undefined)
      if (entries.length === 0) return fail(`condition on ${field} has no operator`)
      for (const [op, value] of entries) {
        if (!operators.has(op)) {
          return fail(`unknown operator ${JSON.stringify(op)} on ${field}; use eq, ne, gt, gte, lt, lte or in`)
        }
        if (op === "in") {
          if (!Array.isArray(value) || !value.every(isScalar)) {
            return fail(`\`in\` on ${field} needs an array of scalars`)
          }
          if (value.length > maxInValues) {
            return fail(`\`in\` on ${field} has ${value.length} values; at most ${maxInValues}`)
          }
          predicates.push({ field, path, op: "in", value })
        } else if (op === "eq" || op === "ne") {
          if (!isScalar(value)) return fail(`\`${op}\` on ${field} needs a string, finite number, boolean or null`)
          predicates.push({ field, path, op, value })
        } else {
          if (!(typeof value === "string" || (typeof value === "number" && Number.isFinite(value)))) {
            return fail(`\`${op}\` on ${field} needs a string or a finite number`)
          }
          predicates.push({ field, path, op: op as Operator, value })
        }
      }
    }
    const orderBy: Array<SortKey> = []
    const requested: unknown = query?.orderBy ?? []
    if (!Array.isArray(requested)) return fail("`orderBy` must be an array of { field, direction }")
    for (const entry of requested as ReadonlyArray<OrderBy>) {
      if (!isPlainObject(entry) || typeof entry.field !== "string" || !fieldPathPattern.test(entry.field)) {
        return fail(`orderBy entry ${safeShow(entry)} needs a plain field path`)
      }
      const direction = entry.direction ?? "asc"
      if (direction !== "asc" && direction !== "desc") {
        return fail(`orderBy direction must be "asc" or "desc", got ${safeShow(direction)}`)
      }
      orderBy.push({ field: entry.field, path: entry.field.split("."), descending: direction === "desc" })
    }
    const limit: unknown = query?.limit
    if (limit !== undefined && !(Number.isSafeInteger(limit) && (limit as number) > 0)) {
      return fail(`limit must be a positive integer, got ${safeShow(limit)}`)
    }
    const fingerprint = JSON.stringify([predicates.map((p) => [p.field, p.op, p.value]), orderBy])
    let after: CursorPosition | undefined
    if (query?.cursor !== undefined) {
      const decoded = decodeCursor(query.cursor, fingerprint, orderBy.length)
      if (decoded === undefined) return fail("the cursor is malformed or belongs to a different query")
      after = decoded
    }
    return Effect.succeed({ predicates, orderBy, limit: limit as number | undefined, after, fingerprint })
  })

const safeShow = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

const hash = (text: string): string => {
  // FNV-1a: only detects cursors from another query, no secrecy intended.
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0).toString(36)
}

/**
 * The opaque cursor that resumes `fingerprint`'s query after `position`.
 *
 * @category cursors
 * @since 0.1.0
 */
export const encodeCursor = (fingerprint: string, position: CursorPosition): string =>
  Buffer.from(JSON.stringify({ q: hash(fingerprint), v: position.values, i: position.id })).toString("base64url")

const decodeCursor = (cursor: unknown, fingerprint: string, keys: number): CursorPosition | undefined => {
  if (typeof cursor !== "string" || cursor.length > 65_536) return undefined
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    if (
      !isPlainObject(parsed) || parsed.q !== hash(fingerprint) || typeof parsed.i !== "string" ||
      !Array.isArray(parsed.v) || parsed.v.length !== keys || !parsed.v.every(isScalar)
    ) return undefined
    return { values: parsed.v, id: parsed.i }
  } catch {
    return undefined
  }
}

/**
 * The value at a path of a JSON document, undefined when absent.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const valueAt = (document: unknown, path: ReadonlyArray<string>): unknown => {
  let current = document
  for (const segment of path) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return undefined
    current = current[segment]
  }
  return current
}

const equals = (value: unknown, operand: Scalar): boolean =>
  operand === null ? value === null || value === undefined : value === operand

/**
 * Compares strings by Unicode code point, the order of UTF-8 bytes (what SQL backends use).
 *
 * @category evaluation
 * @since 0.1.0
 */
export const compareStrings = (a: string, b: string): number => {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      // Surrogates (astral code points) sort above the rest of the BMP in code point order.
      const xs = x >= 0xd800 && x <= 0xdfff
      const ys = y >= 0xd800 && y <= 0xdfff
      if (xs !== ys) return xs ? 1 : -1
      return x < y ? -1 : 1
    }
  }
  return a.length - b.length
}

const rangeCompare = (value: unknown, operand: string | number): number | undefined => {
  if (typeof operand === "number") {
    return typeof value === "number" ? value - operand : undefined
  }
  return typeof value === "string" ? compareStrings(value, operand) : undefined
}

/**
 * Whether a document (its encoded JSON form) satisfies a predicate.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const matchesPredicate = (document: unknown, predicate: Predicate): boolean => {
  const value = valueAt(document, predicate.path)
  switch (predicate.op) {
    case "eq":
      return equals(value, predicate.value as Scalar)
    case "ne":
      return !equals(value, predicate.value as Scalar)
    case "in":
      return (predicate.value as ReadonlyArray<Scalar>).some((operand) => equals(value, operand))
    default: {
      const c = rangeCompare(value, predicate.value as string | number)
      if (c === undefined) return false
      switch (predicate.op) {
        case "gt":
          return c > 0
        case "gte":
          return c >= 0
        case "lt":
          return c < 0
        case "lte":
          return c <= 0
      }
    }
  }
}

/**
 * Whether a document satisfies every predicate of a query.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const matches = (document: unknown, query: NormalizedQuery): boolean =>
  query.predicates.every((predicate) => matchesPredicate(document, predicate))

/**
 * The sort values of a document, missing fields as null.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const sortValues = (document: unknown, query: NormalizedQuery): ReadonlyArray<Scalar> =>
  query.orderBy.map((key) => {
    const value = valueAt(document, key.path)
    return isScalar(value) ? value : null
  })

const typeRank = (value: Scalar): number =>
  value === null ? 0 : typeof value === "boolean" ? 1 : typeof value === "number" ? 2 : 3

const compareScalars = (a: Scalar, b: Scalar): number => {
  const ra = typeRank(a)
  const rb = typeRank(b)
  if (ra !== rb) return ra - rb
  if (typeof a === "string") return compareStrings(a, b as string)
  if (typeof a === "number") return a - (b as number)
  if (typeof a === "boolean") return Number(a) - Number(b)
  return 0
}

/**
 * Orders two (sort values, id) keys as the query sorts them: each key in its direction with
 * null first when ascending, then the id ascending.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const compareKeys = (query: NormalizedQuery, a: CursorPosition, b: CursorPosition): number => {
  for (let i = 0; i < query.orderBy.length; i++) {
    const c = compareScalars(a.values[i], b.values[i])
    if (c !== 0) return query.orderBy[i].descending ? -c : c
  }
  return compareStrings(a.id, b.id)
}

/**
 * `find` for any backend: the query's documents as a Stream, fetched `pageSize` at a time through
 * the backend's `findPage`, stopping at the query's `limit`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const pages = <A, I, E>(
  collection: Collection<A, I>,
  query: Query | undefined,
  pageSize: number,
  findPage: (collection: Collection<A, I>, query: Query) => Effect.Effect<Page<A>, E>
): Stream.Stream<Document<A>, E | InvalidQuery> =>
  Stream.unwrap(Effect.map(normalize(collection.name, query), (normalized) =>
    Stream.paginate(
      { cursor: query?.cursor, remaining: normalized.limit ?? Number.POSITIVE_INFINITY },
      ({ cursor, remaining }) =>
        Effect.map(findPage(collection, { ...query, cursor, limit: Math.min(pageSize, remaining) }), (page) => {
          const left = remaining - page.documents.length
          return [
            page.documents,
            Option.isSome(page.cursor) && left > 0
              ? Option.some({ cursor: page.cursor.value, remaining: left })
              : Option.none()
          ] as const
        })
    )))
