// The shape of what the EventStore on KurrentDB gives the DocumentStore on the same client: its own
// module, so the internal modules and the face (KurrentEvents.ts) both stand on it.
import type { Filter, ResolvedEvent } from "@kurrent/kurrentdb-client"
import type { EventStore, StoreError } from "@strata/core"
import type { AppendPlan } from "@strata/core/backend"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"

/**
 * The internals a DocumentStore on the same client reuses.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentEvents {
  readonly eventStore: EventStore.EventStoreShape
  /** Appends one planned part (no name check: Strata-owned `$` streams go through here too). */
  readonly appendPlan: (plan: AppendPlan.AppendPlan) => Effect.Effect<EventStore.AppendResult, EventStore.AppendError>
  /** Appends planned parts atomically (the v2 multi-stream append), with Strata's error mapping. */
  readonly appendPlans: (
    operation: string,
    plans: ReadonlyArray<AppendPlan.AppendPlan>
  ) => Effect.Effect<
    ReadonlyArray<EventStore.AppendResult>,
    EventStore.AppendError | StoreError.Unsupported
  >
  /** Reads `$all` forwards with a server-side filter, as client events (system streams included). */
  readonly scanAll: (operation: string, filter: Filter) => Stream.Stream<ResolvedEvent, StoreError.StoreUnavailable>
  /** Reads a stream as client events, forwards or backwards, from a revision. */
  readonly readRaw: (
    operation: string,
    stream: string,
    options: { readonly from?: bigint | undefined; readonly backwards?: boolean; readonly limit?: number | undefined }
  ) => Stream.Stream<ResolvedEvent, StoreError.StreamDeleted | StoreError.StoreUnavailable>
  /** Writes the one event of a Strata-owned `$strata-...` stream (capped at one event). */
  readonly writeOwned: (
    operation: string,
    target: string,
    type: string,
    data: unknown
  ) => Effect.Effect<void, StoreError.StoreUnavailable>
  /** Reads the one event of a Strata-owned stream, if any. */
  readonly readOwned: (
    operation: string,
    target: string
  ) => Effect.Effect<{ readonly type: string; readonly data: unknown } | undefined, StoreError.StoreUnavailable>
}
