/**
 * Where consumers keep their checkpoints, and the one rule for how a batch's checkpoint commits with
 * the handler's work.
 *
 * {@link make} is that rule, decided by how the backend commits (`Backend.Commit`):
 * - **Transactional** (memory, SQLite, PostgreSQL): the handler's writes, the lease check (when
 *   fenced) and the checkpoint run in one transaction: exactly once for writes through the store.
 *   Store layers pass a `commit` bounded by `UnitOfWork.Timeout` (`Store.make`), so a handler that
 *   hangs is rolled back and fails the batch with `StoreUnavailable` instead of holding readers back
 *   (the same transaction as a unit of work holds them the same way).
 * - **Batched** (D1; KurrentDB, whose batch is a multi-stream append that writes the checkpoint and
 *   re-appends the lease at the revision it was checked at): the handler's writes first, then the
 *   lease check and the checkpoint in one batch: at least once, and a holder that lost its lease
 *   never moves the checkpoint.
 * - **None** (a backend with no atomic batch): the handler's writes, then the lease check, then the
 *   checkpoint: at least once.
 *
 * Every store layer provides the {@link Checkpoints} it derives this way; its `delivery` says which
 * guarantee it gives, and consumers log it when they start.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { Commit } from "../backend/Backend.ts"
import type { Lease, LeaseStoreShape } from "../backend/LeaseStore.ts"
import { EventStore, type EventStoreShape } from "../EventStore.ts"
import { InvalidArgument, type LeaseLost, type StoreUnavailable } from "../StoreError.ts"

/**
 * Errors of loading or saving a checkpoint.
 *
 * @category errors
 * @since 0.1.0
 */
export type CheckpointError = InvalidArgument | StoreUnavailable | LeaseLost

/**
 * What a checkpoint store promises for the handler's writes through the store.
 *
 * @category models
 * @since 0.1.0
 */
export type Delivery = "exactly-once" | "at-least-once"

/**
 * Where consumers keep their checkpoints, and how a checkpoint commits with the handler's work.
 *
 * `commit(name, position, work)` runs `work` (the handler for one batch of events, ending at
 * `position`) and records `position` as the consumer's checkpoint: in one transaction with the work
 * where the backend has them, so a crash or interruption anywhere leaves both unchanged and the batch
 * is handled again. `fenced(lease)` is the same store with every commit also checking that `lease` is
 * still current, in the same atomic step.
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckpointStore {
  /** What the store promises (absent: at least once). */
  readonly delivery?: Delivery | undefined
  readonly load: (name: string) => Effect.Effect<Option.Option<bigint>, CheckpointError, EventStore>
  readonly commit: <A, X, R>(
    name: string,
    position: bigint,
    work: Effect.Effect<A, X, R>
  ) => Effect.Effect<A, X | CheckpointError, R | EventStore>
  /** This store with every commit fenced by `lease` in its own atomic step (absent: `Lease.fenced` wraps it). */
  readonly fenced?: ((lease: Lease) => CheckpointStore) | undefined
}

/**
 * The checkpoint store of the EventStore in context: `loadCheckpoint` / `saveCheckpoint`, the save
 * right after the work (uninterruptible once the work has succeeded). At least once; for stores
 * built by hand. Store layers provide their own ({@link make}).
 *
 * @category constructors
 * @since 0.1.0
 */
export const storeCheckpoints: CheckpointStore = {
  delivery: "at-least-once",
  load: (name) => Effect.flatMap(EventStore, (store) => store.loadCheckpoint(name)),
  commit: (name, position, work) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.tap(
        restore(work),
        () => Effect.flatMap(EventStore, (store) => store.saveCheckpoint(name, position))
      )
    )
}

/**
 * The checkpoint store consumers use. Every store layer provides the one {@link make} derives for
 * its backend; provide another around one consumer with `Effect.provideService(Checkpoints, ...)`.
 *
 * @category services
 * @since 0.1.0
 */
export class Checkpoints extends Context.Service<Checkpoints, CheckpointStore>()(
  "@strata/core/Consumer/Checkpoints"
) {}

/**
 * Checks `lease` with its store, as a checkpoint error: a store without leases (`Unsupported`) is a
 * misuse of fencing, reported as `InvalidArgument`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const fence = (store: LeaseStoreShape, lease: Lease): Effect.Effect<void, CheckpointError> =>
  store.fence(lease).pipe(
    Effect.catchTag(
      "Unsupported",
      (error) => Effect.fail(new InvalidArgument({ operation: "Lease.fence", detail: error.message }))
    )
  )

/**
 * The checkpoint store of a backend: the one rule (see the module documentation) over its `commit`,
 * its EventStore (`loadCheckpoint` / `saveCheckpoint`) and its lease store.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: {
  readonly commit: Commit
  readonly events: EventStoreShape
  readonly leases: LeaseStoreShape
}): CheckpointStore => {
  const { commit, events, leases } = options
  const save = (name: string, position: bigint) => events.saveCheckpoint(name, position)
  const withLease = (lease: Lease | undefined): CheckpointStore => {
    const check = lease === undefined ? Effect.void : fence(leases, lease)
    const store = (delivery: Delivery, commitBatch: CheckpointStore["commit"]): CheckpointStore => ({
      delivery,
      load: (name) => events.loadCheckpoint(name),
      commit: commitBatch,
      fenced: (next) => withLease(next)
    })
    switch (commit._tag) {
      case "Transactional":
        return store("exactly-once", (name, position, work) =>
          commit.transaction(
            work.pipe(Effect.tap(() => check), Effect.tap(() => save(name, position)))
          ))
      case "Batched":
        return store(
          "at-least-once",
          (name, position, work) =>
            Effect.uninterruptibleMask((restore) =>
              Effect.tap(restore(work), () => commit.saveCheckpoint(name, position, lease))
            )
        )
      case "None":
        return store(
          "at-least-once",
          (name, position, work) =>
            Effect.uninterruptibleMask((restore) =>
              restore(work).pipe(Effect.tap(() => check), Effect.tap(() => save(name, position)))
            )
        )
    }
  }
  return withLease(undefined)
}
