/**
 * The EventStore on KurrentDB: streams are KurrentDB streams, versions their revisions, positions the
 * commit positions of `$all`.
 *
 * What KurrentDB does itself: expected revisions, idempotent re-appends (its own rule: the ids at the
 * expected position, or anywhere in the stream for `any`), soft delete (`$tb` in `$$stream`), tombstones,
 * retention (`$tb` / `$maxCount` / `$maxAge` on stream reads, not on `$all`), filtered reads and
 * catch-up subscriptions. What Strata adds on top, on the failure path only:
 * - a conflicting append is judged with Strata's replay rule (`Replay.classify`) against the stream's
 *   events, so a retry with a different expected version still returns the original result;
 * - a conflict on a soft-deleted stream reports no version, as the contract says;
 * - `streamInfo` reads the metastream and the stream's last event; for a soft-deleted stream (whose
 *   events no read returns) it learns the last revision from a write the server refuses, and for a
 *   tombstoned one from `$all`.
 *
 * Snapshots and checkpoints live in Strata-owned system streams (`$strata-snapshot-<stream>`,
 * `$strata-checkpoint-<name>`) with `$maxCount: 1`.
 *
 * This module is the public face: the options, the internals the DocumentStore reuses and {@link make}.
 * The concepts live in their own modules over one small internal context (the client, the settings and
 * the paged reads, `internal/context.ts`): appends (`internal/append.ts`), conflict judgement
 * (`internal/conflicts.ts`), reads (`internal/reads.ts`), subscriptions (`internal/subscriptions.ts`),
 * the stream lifecycle and retention (`internal/lifecycle.ts`) and the owned streams
 * (`internal/owned.ts`).
 *
 * @since 0.1.0
 */
import type { EventStore } from "@strata/core"
import * as Duration from "effect/Duration"
import * as Append from "./internal/append.ts"
import * as KurrentContext from "./internal/context.ts"
import * as Lifecycle from "./internal/lifecycle.ts"
import * as Owned from "./internal/owned.ts"
import * as Reads from "./internal/reads.ts"
import type { KurrentEvents } from "./internal/shape.ts"
import * as Subscriptions from "./internal/subscriptions.ts"
import type { KurrentClient } from "./KurrentClient.ts"

/**
 * Tuning of the EventStore on KurrentDB; every field has a default.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentEventsOptions {
  readonly maxEventBytes?: number | undefined
  /** Most events a conflicting append looks back through to recognise a replay. Default 10,000. */
  readonly replayWindow?: number | undefined
  /** How long a dropped subscription waits before it resumes. Default 100 ms, doubling to 5 s. */
  readonly resubscribeDelay?: Duration.Input | undefined
  /** Events per read call. Default 1,000 (each call through the client's Rust reader has a fixed cost). */
  readonly pageSize?: number | undefined
  /**
   * How long the store's shared live reader waits for a wake-up (its one server subscription, this
   * store's own appends) before reading `$all` anyway; also how often it looks for tombstones among
   * the streams followed. Default 500 ms.
   */
  readonly pollInterval?: Duration.Input | undefined
}

export type {
  /**
   * The internals a DocumentStore on the same client reuses.
   *
   * @category models
   * @since 0.1.0
   */
  KurrentEvents
} from "./internal/shape.ts"

/**
 * Builds the EventStore over a connected client.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (kurrent: KurrentClient, options: KurrentEventsOptions = {}): KurrentEvents => {
  const ctx = KurrentContext.make(kurrent, {
    backend: "kurrentdb",
    maxEventBytes: options.maxEventBytes ?? 1024 * 1024,
    replayWindow: options.replayWindow ?? 10_000,
    pageSize: options.pageSize ?? 1_000,
    resubscribeDelay: Duration.fromInputUnsafe(options.resubscribeDelay ?? "100 millis"),
    pollInterval: Duration.fromInputUnsafe(options.pollInterval ?? "500 millis")
  })
  const { append, appendMany, appendPlan, appendPlans } = Append.make(ctx)
  const { read, readAll, scanAll } = Reads.make(ctx)
  const { subscribe, subscribeAll } = Subscriptions.make(ctx)
  const { deleteStream, setRetention, streamInfo, tombstoneStream } = Lifecycle.make(ctx)
  const { loadCheckpoint, loadSnapshot, readOwned, saveCheckpoint, saveSnapshot, writeOwned } = Owned.make(ctx)
  const eventStore: EventStore.EventStoreShape = {
    backend: ctx.backend,
    append,
    appendMany,
    read,
    readAll,
    subscribe,
    subscribeAll,
    streamInfo,
    deleteStream,
    tombstoneStream,
    setRetention,
    saveSnapshot,
    loadSnapshot,
    saveCheckpoint,
    loadCheckpoint
  }
  return { eventStore, appendPlan, appendPlans, readRaw: ctx.readRaw, scanAll, writeOwned, readOwned }
}
