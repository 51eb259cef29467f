/**
 * The idempotent-replay rule of the contract, as pure functions every backend calls.
 *
 * Appending event ids that are already stored in the same stream, consecutively and in the same
 * order, is a replay: the append succeeds again with the original result and writes nothing. Any
 * other use of a stored id is a `DuplicateEvent`. A backend looks up where the ids of a failed (or
 * about-to-run) append are stored and asks {@link classify} what each stream's part is.
 *
 * A `DocumentStore.put` that carries events follows the same rule, with the document as one more
 * part ({@link classifyPut}, {@link sameDocument}):
 * - every event part a replay, and the document stored with the same value at the version that put
 *   produced: the same write, answered with its original result `{ version, appended }`, writing
 *   nothing. "The version that put produced" is 1 for `expected: "missing"`, `n + 1` for
 *   `expected: n`; for `expected: "any"` it is not known, and the stored version counts (a later
 *   write of the very same value cannot be told apart);
 * - every event part a replay but the document not so (another value, another version, deleted):
 *   the ids belong to another write, a `DuplicateEvent` naming the first of them;
 * - some event parts replays, the others new: as `appendMany`, the replayed parts answer their
 *   original results and the new ones are appended, with the document written as its `expected`
 *   says;
 * - an id stored elsewhere, or out of order: a `DuplicateEvent`.
 *
 * `UnitOfWork.commit` is judged the same way (each of its documents as that put's document).
 *
 * @since 0.1.0
 */
import type { ExpectedDocument } from "../DocumentStore.ts"
import type { AppendResult } from "../EventStore.ts"
import { DuplicateEvent } from "../StoreError.ts"
import type { AppendPlan } from "./AppendPlan.ts"

/**
 * Where one stored event id sits.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoredId {
  readonly stream: string
  readonly version: bigint
  readonly position: bigint
}

/**
 * One stream's part of an append, judged against the ids already stored: `New` (none of its ids is
 * stored), `Replay` (all are, in this stream, consecutively: `result` is the original answer) or
 * `Duplicate` (`eventId` is stored elsewhere, or out of order).
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "New" }
  | { readonly _tag: "Replay"; readonly result: AppendResult }
  | { readonly _tag: "Duplicate"; readonly eventId: string }

/**
 * Judges one stream's part of an append.
 *
 * @example
 * ```ts
 * import { Replay } from "@strata/core/backend"
 *
 * const stored = new Map([["id-1", { stream: "a", version: 0n, position: 7n }]])
 * const outcome = Replay.classify(
 *   { stream: "a", ids: ["id-1"] },
 *   (id) => stored.get(id)
 * )
 * // outcome: { _tag: "Replay", result: { stream: "a", nextExpectedVersion: 0n, position: 7n } }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const classify = (
  part: { readonly stream: string; readonly ids: ReadonlyArray<string> },
  lookup: (id: string) => StoredId | undefined
): Outcome => {
  const { ids, stream } = part
  const first = lookup(ids[0])
  if (first === undefined) {
    const taken = ids.find((id) => lookup(id) !== undefined)
    return taken === undefined ? { _tag: "New" } : { _tag: "Duplicate", eventId: taken }
  }
  const replay = first.stream === stream && ids.every((id, i) => {
    const earlier = lookup(id)
    return earlier !== undefined && earlier.stream === stream && earlier.version === first.version + BigInt(i)
  })
  if (!replay) return { _tag: "Duplicate", eventId: ids[0] }
  const last = lookup(ids[ids.length - 1])!
  return { _tag: "Replay", result: { stream, nextExpectedVersion: last.version, position: last.position } }
}

/**
 * {@link classify} for a planned append.
 *
 * @category constructors
 * @since 0.1.0
 */
export const classifyPlan = (plan: AppendPlan, lookup: (id: string) => StoredId | undefined): Outcome =>
  classify({ stream: plan.request.stream, ids: plan.prepared.map((event) => event.id) }, lookup)

/**
 * The event parts of a put (or of a unit of work's commit) judged together, from each part's
 * {@link Outcome}: `New` (none of its ids is stored), `Stored` (every part is a replay: the document
 * decides, see {@link sameDocument}; `results` are the parts' original answers), `Partial` (some parts
 * are replays: `results` holds their answers, `undefined` for the parts to append) or `Duplicate`.
 *
 * @category models
 * @since 0.1.0
 */
export type PutOutcome =
  | { readonly _tag: "New" }
  | { readonly _tag: "Stored"; readonly results: ReadonlyArray<AppendResult> }
  | { readonly _tag: "Partial"; readonly results: ReadonlyArray<AppendResult | undefined> }
  | { readonly _tag: "Duplicate"; readonly stream: string; readonly eventId: string }

/**
 * Judges the event parts of a put together, given each part's {@link Outcome} (in the order of the
 * parts).
 *
 * @example
 * ```ts
 * import { Replay } from "@strata/core/backend"
 *
 * const stored = new Map([["id-1", { stream: "a", version: 0n, position: 7n }]])
 * const part = { stream: "a", ids: ["id-1"] }
 * const outcome = Replay.classifyPut([part], [Replay.classify(part, (id) => stored.get(id))])
 * // outcome: { _tag: "Stored", results: [{ stream: "a", nextExpectedVersion: 0n, position: 7n }] }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const classifyPut = (
  parts: ReadonlyArray<{ readonly stream: string }>,
  outcomes: ReadonlyArray<Outcome>
): PutOutcome => {
  const duplicate = outcomes.findIndex((outcome) => outcome._tag === "Duplicate")
  if (duplicate >= 0) {
    const outcome = outcomes[duplicate] as Extract<Outcome, { _tag: "Duplicate" }>
    return { _tag: "Duplicate", stream: parts[duplicate].stream, eventId: outcome.eventId }
  }
  const results = outcomes.map((outcome) => outcome._tag === "Replay" ? outcome.result : undefined)
  const replayed = results.filter((result) => result !== undefined).length
  return replayed === 0
    ? { _tag: "New" }
    : replayed === results.length
    ? { _tag: "Stored", results: results as ReadonlyArray<AppendResult> }
    : { _tag: "Partial", results }
}

// Equal JSON values: the same scalars, arrays in the same order, objects with the same keys in any
// order (PostgreSQL's jsonb does not keep the order of keys).
const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]))
  }
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  const keys = Object.keys(left)
  return keys.length === Object.keys(right).length &&
    keys.every((key) => Object.hasOwn(right, key) && jsonEqual(left[key], right[key]))
}

/**
 * Whether the stored document is the one a put whose events are all stored ({@link classifyPut}
 * said `Stored`) wrote: the same JSON value, at the version that put produced (1 for
 * `expected: "missing"`, `n + 1` for `expected: n`, the stored one for `"any"`). Gives that version
 * (the put's original `version`), or `undefined` when the document is not that write's, and the put
 * then fails with {@link notTheSameWrite}.
 *
 * @example
 * ```ts
 * import { Replay } from "@strata/core/backend"
 *
 * Replay.sameDocument({ expected: 3n, json: "{\"a\":1}" }, { version: 4n, encoded: { a: 1 } }) // 4n
 * Replay.sameDocument({ expected: 3n, json: "{\"a\":1}" }, { version: 5n, encoded: { a: 1 } }) // undefined
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const sameDocument = (
  write: { readonly expected: ExpectedDocument; readonly json: string },
  stored: { readonly version: bigint; readonly encoded: unknown } | undefined
): bigint | undefined => {
  if (stored === undefined) return undefined
  const { expected } = write
  const produced = expected === "any" ? stored.version : expected === "missing" ? 1n : expected + 1n
  return stored.version === produced && jsonEqual(JSON.parse(write.json), stored.encoded) ? produced : undefined
}

/**
 * The error of a put whose event ids are all stored, by a write that is not this one (its document
 * differs): a `DuplicateEvent` naming the first id of its first part.
 *
 * @category constructors
 * @since 0.1.0
 */
export const notTheSameWrite = (
  parts: ReadonlyArray<{ readonly stream: string; readonly ids: ReadonlyArray<string> }>
): DuplicateEvent => new DuplicateEvent({ stream: parts[0].stream, eventId: parts[0].ids[0] })

/**
 * The parts of planned appends as {@link classifyPut} and {@link notTheSameWrite} take them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const partsOf = (
  plans: ReadonlyArray<AppendPlan>
): ReadonlyArray<{ readonly stream: string; readonly ids: ReadonlyArray<string> }> =>
  plans.map((plan) => ({ stream: plan.request.stream, ids: plan.prepared.map((event) => event.id) }))
