/**
 * The idempotent-replay rule of the contract, as one pure function every backend calls.
 *
 * Appending event ids that are already stored in the same stream, consecutively and in the same
 * order, is a replay: the append succeeds again with the original result and writes nothing. Any
 * other use of a stored id is a `DuplicateEvent`. A backend looks up where the ids of a failed (or
 * about-to-run) append are stored and asks {@link classify} what each stream's part is.
 *
 * @since 0.1.0
 */
import type { AppendResult } from "../EventStore.ts"
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
 * import * as Replay from "@strata/core/Replay"
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
