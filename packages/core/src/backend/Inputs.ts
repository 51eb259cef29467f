/**
 * Input checks shared by every backend, so each refuses the same inputs with the same errors
 * before touching storage.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { tagProblem } from "../Event.ts"
import type { AppendCondition, Direction, EventFilter, Query, RetentionPatch } from "../EventStore.ts"
import { maxQueryItems, maxQueryValues } from "../EventStore.ts"
import * as Json from "../internal/json.ts"
import { InvalidArgument } from "../StoreError.ts"
import * as StreamName from "../StreamName.ts"

const invalid = (operation: string, detail: string) => Effect.fail(new InvalidArgument({ operation, detail }))

/**
 * A read limit: a non-negative safe integer, or absent.
 *
 * @category validation
 * @since 0.1.0
 */
export const limit = (operation: string, value: unknown): Effect.Effect<number | undefined, InvalidArgument> =>
  value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0)
    ? Effect.succeed(value as number | undefined)
    : invalid(operation, `limit must be a non-negative integer, got ${String(value)}`)

/**
 * A read direction, defaulting to forwards.
 *
 * @category validation
 * @since 0.1.0
 */
export const direction = (operation: string, value: unknown): Effect.Effect<Direction, InvalidArgument> =>
  value === undefined || value === "forwards" || value === "backwards"
    ? Effect.succeed((value ?? "forwards") as Direction)
    : invalid(operation, `direction must be "forwards" or "backwards", got ${String(value)}`)

/**
 * A version or position: a bigint, at least `min`.
 *
 * @category validation
 * @since 0.1.0
 */
export const bigint = (
  operation: string,
  name: string,
  value: unknown,
  min: bigint = 0n
): Effect.Effect<bigint, InvalidArgument> =>
  typeof value === "bigint" && value >= min
    ? Effect.succeed(value)
    : invalid(operation, `${name} must be a bigint >= ${min}, got ${typeof value === "bigint" ? value : typeof value}`)

/**
 * An event filter: arrays of non-empty strings, well-formed Unicode (a lone surrogate would be bound
 * as U+FFFD by the SQL backends and match other names), and no key besides `types`, `categories`,
 * `streamPrefixes` and `partition` (an unknown one fails with `InvalidArgument` naming it).
 *
 * @category validation
 * @since 0.1.0
 */
export const filter = (operation: string, value: EventFilter | undefined): Effect.Effect<void, InvalidArgument> => {
  if (value === undefined) return Effect.void
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid(operation, "filter must be an object { types?, categories?, streamPrefixes?, partition? }")
  }
  const unknown = unknownKey(value, filterKeys)
  if (unknown !== undefined) {
    return invalid(
      operation,
      unknown === "query" || unknown === "tags"
        ? `filter has no "${unknown}": a DCB query is readAll({ query }) or Dcb.read / Dcb.subscribe`
        : `filter has no "${unknown}" (it takes ${filterKeys.join(", ")})`
    )
  }
  for (const key of ["types", "categories", "streamPrefixes"] as const) {
    const list = value[key]
    if (list === undefined) continue
    if (
      !Array.isArray(list) ||
      !list.every((item) => typeof item === "string" && item.length > 0 && Json.isWellFormed(item))
    ) {
      return invalid(operation, `filter.${key} must be an array of non-empty, well-formed Unicode strings`)
    }
  }
  if (value.partition !== undefined) {
    const partition: unknown = value.partition
    if (typeof partition !== "object" || partition === null) {
      return invalid(operation, "filter.partition must be an object { count, index }")
    }
    const { count, index } = partition as { readonly count?: unknown; readonly index?: unknown }
    if (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > 1024) {
      return invalid(operation, `filter.partition.count must be an integer from 1 to 1024, got ${String(count)}`)
    }
    if (!Number.isSafeInteger(index) || (index as number) < 0 || (index as number) >= (count as number)) {
      return invalid(
        operation,
        `filter.partition.index must be an integer from 0 to ${(count as number) - 1}, got ${String(index)}`
      )
    }
  }
  return Effect.void
}

const filterKeys: ReadonlyArray<string> = ["types", "categories", "streamPrefixes", "partition"]
const readKeys: ReadonlyArray<string> = ["from", "direction", "limit"]
const readAllKeys: ReadonlyArray<string> = [...readKeys, "filter", "query"]
const subscribeAllKeys: ReadonlyArray<string> = ["from", "filter"]

// The first own key of `value` that is not one of `known` and is not undefined (a spread of an
// absent option carries `undefined`), if any.
const unknownKey = (value: object, known: ReadonlyArray<string>): string | undefined => {
  for (const key of Object.keys(value)) {
    if (!known.includes(key) && (value as Record<string, unknown>)[key] !== undefined) return key
  }
  return undefined
}

/**
 * The options of a `subscribeAll`: an object (or absent) with only `from` and `filter`, a valid
 * filter and a valid `from.after`. An unknown key fails with `InvalidArgument` naming it, instead of
 * being ignored (a plain-JavaScript `subscribeAll({ query })` would otherwise deliver every event):
 * a query subscription is `Dcb.subscribe`.
 *
 * @category validation
 * @since 0.1.0
 */
export const subscribeAllOptions = (
  operation: string,
  options: unknown,
  position: (operation: string, name: string, value: unknown) => Effect.Effect<bigint, InvalidArgument> = bigint
): Effect.Effect<void, InvalidArgument> => {
  if (options === undefined) return Effect.void
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    return invalid(operation, "options must be an object { from?, filter? }")
  }
  const unknown = unknownKey(options, subscribeAllKeys)
  if (unknown !== undefined) return invalid(operation, unknownOption(operation, unknown, subscribeAllKeys))
  const { filter: value, from } = options as { readonly from?: unknown; readonly filter?: EventFilter }
  const checkFilter = filter(operation, value)
  return typeof from === "object" && from !== null
    ? Effect.andThen(position(operation, "from.after", (from as { readonly after?: unknown }).after), checkFilter)
    : checkFilter
}

const unknownOption = (operation: string, key: string, known: ReadonlyArray<string>): string =>
  key === "query" && operation !== "readAll"
    ? `${operation} takes no "query": subscribe to a DCB query with Dcb.subscribe(query), read one with readAll({ query }) or Dcb.read(query)`
    : `${operation} has no option "${key}" (it takes ${known.join(", ")})`

/**
 * The 32-bit hash of a stream name that partitions the log: FNV-1a over the name's UTF-8 bytes, as
 * an unsigned integer. SQL backends store it with each event (column `stream_hash`). Stable across
 * processes, platforms and releases: changing it would move streams between partitions (and their
 * checkpoints).
 *
 * @category evaluation
 * @since 0.1.0
 */
export const streamHash = (stream: string): number => {
  let hash = 0x811c9dc5
  for (const byte of encoder.encode(stream)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

const encoder = new TextEncoder()

/**
 * Whether an event in `stream` with `type` passes a filter (the in-memory form of the SQL filter).
 *
 * @category evaluation
 * @since 0.1.0
 */
export const passes = (value: EventFilter | undefined, stream: string, type: string): boolean =>
  value === undefined || (
    (value.types === undefined || value.types.includes(type)) &&
    (value.categories === undefined || value.categories.includes(StreamName.category(stream))) &&
    (value.streamPrefixes === undefined || value.streamPrefixes.some((prefix) => stream.startsWith(prefix))) &&
    (value.partition === undefined || streamHash(stream) % value.partition.count === value.partition.index)
  )

/**
 * A DCB query: an array of at most `maxQueryItems` items, each an object whose `types` (event types)
 * and `tags` (valid tags) are arrays, at most `maxQueryValues` values in all. Gives the query with
 * each item's lists deduplicated (absent lists left absent).
 *
 * @category validation
 * @since 0.1.0
 */
export const query = (operation: string, name: string, value: unknown): Effect.Effect<Query, InvalidArgument> => {
  if (!Array.isArray(value)) return invalid(operation, `${name} must be an array of query items`)
  if (value.length > maxQueryItems) {
    return invalid(operation, `${name} has ${value.length} items; the limit is ${maxQueryItems}`)
  }
  let values = 0
  const items: Array<{ types?: ReadonlyArray<string>; tags?: ReadonlyArray<string> }> = []
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i]
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      return invalid(operation, `${name}[${i}] must be an object { types?, tags? }`)
    }
    const { tags, types } = item as { readonly types?: unknown; readonly tags?: unknown }
    const checked: { types?: ReadonlyArray<string>; tags?: ReadonlyArray<string> } = {}
    if (types !== undefined) {
      if (
        !Array.isArray(types) ||
        !types.every((type) => typeof type === "string" && type.length > 0 && Json.isWellFormed(type))
      ) {
        return invalid(operation, `${name}[${i}].types must be an array of non-empty, well-formed Unicode strings`)
      }
      checked.types = [...new Set(types as ReadonlyArray<string>)]
      values += checked.types.length
    }
    if (tags !== undefined) {
      if (!Array.isArray(tags)) return invalid(operation, `${name}[${i}].tags must be an array of tags`)
      for (const tag of tags) {
        const problem = tagProblem(tag)
        if (problem !== undefined) return invalid(operation, `${name}[${i}].tags: ${problem}`)
      }
      checked.tags = [...new Set(tags as ReadonlyArray<string>)]
      values += checked.tags.length
    }
    items.push(checked)
  }
  if (values > maxQueryValues) {
    return invalid(operation, `${name} names ${values} types and tags; the limit is ${maxQueryValues}`)
  }
  return Effect.succeed(items)
}

/**
 * An append condition: an object with a valid `failIfEventsMatch` query and an optional `after`
 * position (a bigint >= 0). `position` checks `after`; backends with a smaller integer range (D1)
 * pass their own.
 *
 * @category validation
 * @since 0.1.0
 */
export const condition = (
  operation: string,
  value: unknown,
  position: (operation: string, name: string, value: unknown) => Effect.Effect<bigint, InvalidArgument> = bigint
): Effect.Effect<AppendCondition | undefined, InvalidArgument> => {
  if (value === undefined) return Effect.succeed(undefined)
  if (typeof value !== "object" || value === null) {
    return invalid(operation, "condition must be an object { failIfEventsMatch, after? }")
  }
  const { after, failIfEventsMatch } = value as { readonly failIfEventsMatch?: unknown; readonly after?: unknown }
  return Effect.flatMap(
    query(operation, "condition.failIfEventsMatch", failIfEventsMatch),
    (checked) =>
      after === undefined
        ? Effect.succeed({ failIfEventsMatch: checked })
        : Effect.map(position(operation, "condition.after", after), (at) => ({ failIfEventsMatch: checked, after: at }))
  )
}

/**
 * Whether an event matches a DCB query: it matches one of the items (its type is one of the item's
 * `types`, when given, and it carries every one of the item's `tags`). The in-memory form of the SQL
 * query.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const matches = (
  value: Query,
  event: { readonly type: string; readonly tags?: ReadonlyArray<string> | undefined }
): boolean =>
  value.some((item) =>
    (item.types === undefined || item.types.includes(event.type)) &&
    (item.tags === undefined || item.tags.every((tag) => event.tags !== undefined && event.tags.includes(tag)))
  )

/**
 * A checkpoint name: the stream-name rules.
 *
 * @category validation
 * @since 0.1.0
 */
export const checkpointName = (operation: string, name: unknown): Effect.Effect<string, InvalidArgument> => {
  const problem = StreamName.problem(typeof name === "string" && name.startsWith("$") ? `x${name}` : name)
  return problem === undefined
    ? Effect.succeed(name as string)
    : invalid(operation, `checkpoint name ${JSON.stringify(name)}: ${problem}`)
}

/**
 * A validated retention patch: `truncateBefore` >= 0, `maxCount` >= 1, `maxAge` > 0.
 *
 * @category models
 * @since 0.1.0
 */
export interface Retention {
  readonly truncateBefore?: bigint | null | undefined
  readonly maxCount?: number | null | undefined
  readonly maxAgeMillis?: number | null | undefined
}

/**
 * Validates a retention patch.
 *
 * @category validation
 * @since 0.1.0
 */
export const retention = (patch: RetentionPatch): Effect.Effect<Retention, InvalidArgument> => {
  const operation = "setRetention"
  if (typeof patch !== "object" || patch === null) return invalid(operation, "the patch must be an object")
  const { maxAge, maxCount, truncateBefore } = patch
  if (
    truncateBefore !== undefined && truncateBefore !== null &&
    !(typeof truncateBefore === "bigint" && truncateBefore >= 0n)
  ) {
    return invalid(operation, "truncateBefore must be a bigint >= 0 or null")
  }
  if (maxCount !== undefined && maxCount !== null && !(Number.isSafeInteger(maxCount) && maxCount >= 1)) {
    return invalid(operation, "maxCount must be an integer >= 1 or null")
  }
  let maxAgeMillis: number | null | undefined = maxAge === null ? null : undefined
  if (maxAge !== undefined && maxAge !== null) {
    const duration = Duration.fromInput(maxAge)
    if (
      duration._tag === "None" || !(Duration.toMillis(duration.value) >= 1) ||
      !Number.isFinite(Duration.toMillis(duration.value))
    ) {
      return invalid(operation, "maxAge must be a finite duration of at least 1 millisecond, or null")
    }
    maxAgeMillis = Math.floor(Duration.toMillis(duration.value))
  }
  return Effect.succeed({ truncateBefore, maxCount, maxAgeMillis })
}

/**
 * A snapshot state must be plain JSON.
 *
 * @category validation
 * @since 0.1.0
 */
export const snapshotState = (state: unknown, schemaVersion: unknown): Effect.Effect<string, InvalidArgument> => {
  const problem = Json.problem(state)
  if (problem !== undefined) return invalid("saveSnapshot", `state is not plain JSON: ${problem}`)
  if (!(Number.isSafeInteger(schemaVersion) && (schemaVersion as number) >= 0)) {
    return invalid("saveSnapshot", "schemaVersion must be a non-negative integer")
  }
  return Effect.succeed(JSON.stringify(state))
}

/**
 * The first version of a stream that retention leaves visible, given its last version and the
 * time now; events older than `maxAge` are filtered separately, by timestamp.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const firstVisibleVersion = (
  lastVersion: bigint | undefined,
  rules: { readonly truncateBefore?: bigint | undefined; readonly maxCount?: number | undefined }
): bigint => {
  let first = rules.truncateBefore ?? 0n
  if (rules.maxCount !== undefined && lastVersion !== undefined) {
    const byCount = lastVersion + 1n - BigInt(rules.maxCount)
    if (byCount > first) first = byCount
  }
  return first
}

/**
 * The checked options of a `read` (`operation` "read") or a `readAll` (`operation` "readAll", which
 * also checks the filter). `position` checks `from`; backends with a smaller integer range (D1) pass
 * their own. An option the operation does not take fails with `InvalidArgument` naming it (a
 * plain-JavaScript caller's typo is not ignored).
 *
 * @category validation
 * @since 0.1.0
 */
export const readOptions = (
  operation: "read" | "readAll",
  options: {
    readonly direction?: unknown
    readonly limit?: unknown
    readonly from?: unknown
    readonly filter?: EventFilter | undefined
    readonly query?: Query | undefined
  } | undefined,
  position: (operation: string, name: string, value: unknown) => Effect.Effect<bigint, InvalidArgument> = bigint
): Effect.Effect<
  {
    readonly direction: Direction
    readonly limit: number | undefined
    readonly from: bigint | undefined
    /** The checked query of a `readAll({ query })`. */
    readonly query?: Query | undefined
  },
  InvalidArgument
> =>
  Effect.gen(function*() {
    if (options !== undefined) {
      if (typeof options !== "object" || options === null || Array.isArray(options)) {
        return yield* invalid(operation, "options must be an object")
      }
      const known = operation === "read" ? readKeys : readAllKeys
      const unknown = unknownKey(options, known)
      if (unknown !== undefined) return yield* invalid(operation, unknownOption(operation, unknown, known))
    }
    const checked = {
      direction: yield* direction(operation, options?.direction),
      limit: yield* limit(operation, options?.limit),
      from: options?.from === undefined ? undefined : yield* position(operation, "from", options.from)
    }
    if (operation === "readAll") {
      yield* filter(operation, options?.filter)
      if (options?.query !== undefined) {
        if (options.filter !== undefined) return yield* invalid(operation, "give either filter or query, not both")
        return { ...checked, query: yield* query(operation, "query", options.query) }
      }
    }
    return checked
  })
