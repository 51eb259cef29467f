/**
 * How a stream's stored state is shown to callers: `streamInfo`'s status and retention view, the
 * same on every backend whatever its storage (a record in memory, a `strata_streams` row, stream
 * metadata in KurrentDB).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type { StreamInfo, StreamRetention, StreamStatus } from "../EventStore.ts"

/**
 * What a backend stores about a stream; `undefined` where it stores nothing.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoredStream {
  readonly tombstoned: boolean
  readonly deleted: boolean
  /** The version of the last event ever written; `undefined` before the first. */
  readonly lastVersion: bigint | undefined
  readonly truncateBefore?: bigint | undefined
  readonly maxCount?: number | undefined
  readonly maxAgeMillis?: number | undefined
}

/**
 * The status ladder: tombstoned, then deleted, then active once it has an event, else missing.
 *
 * @category constructors
 * @since 0.1.0
 */
export const status = (stored: StoredStream | undefined): StreamStatus =>
  stored === undefined
    ? "missing"
    : stored.tombstoned
    ? "tombstoned"
    : stored.deleted
    ? "deleted"
    : stored.lastVersion === undefined
    ? "missing"
    : "active"

/**
 * The retention rules that are set, and only those.
 *
 * @category constructors
 * @since 0.1.0
 */
export const retention = (stored: StoredStream | undefined): StreamRetention => {
  const out: { truncateBefore?: bigint; maxCount?: number; maxAge?: Duration.Duration } = {}
  if (stored?.truncateBefore !== undefined) out.truncateBefore = stored.truncateBefore
  if (stored?.maxCount !== undefined) out.maxCount = stored.maxCount
  if (stored?.maxAgeMillis !== undefined) out.maxAge = Duration.millis(stored.maxAgeMillis)
  return out
}

/**
 * `streamInfo`'s answer for a stored stream.
 *
 * @example
 * ```ts
 * import { StreamView } from "@strata/core/backend"
 *
 * StreamView.info("cart-1", { tombstoned: false, deleted: true, lastVersion: 4n, truncateBefore: 5n })
 * // { stream: "cart-1", status: "deleted", lastVersion: 4n, retention: { truncateBefore: 5n } }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const info = (stream: string, stored: StoredStream | undefined): StreamInfo => ({
  stream,
  status: status(stored),
  lastVersion: stored?.lastVersion,
  retention: retention(stored)
})
