/**
 * Units of work: several appends (to several streams, each with its expected version) and document
 * writes that commit or roll back together.
 *
 * {@link transaction} runs an Effect as one unit of work of the store in context. Everything the
 * effect writes through that store's EventStore and DocumentStore commits when it succeeds, and is
 * rolled back when it fails or is interrupted. Subscribers see none of its events before the commit,
 * and never see the events of a unit of work that rolled back: wake-ups are sent after the commit.
 * Nested calls are savepoints: an inner failure that the outer effect catches undoes only the inner
 * writes.
 *
 * Per backend (the conformance topic `unitOfWorkSuite` pins each):
 * - **memory**: a store-wide writer lock held for the unit, an undo journal for events, documents and
 *   checkpoints, and a read horizon that keeps the unit's events invisible until it commits.
 * - **SQLite, PostgreSQL**: one database transaction over the store's `SqlClient`.
 * - **D1** and **KurrentDB**: no interactive transactions, so `transaction` fails with `Unsupported`
 *   (before running the effect). Their atomic forms are one batch: `appendMany` (several streams,
 *   each with its expected version) and `DocumentStore.put(collection, id, value, { events })` (a
 *   document with the events that produced it); on KurrentDB both use the multi-stream append
 *   (server 25.1 or later).
 *
 * Every store layer provides the service, derived from how its backend commits (`Backend.Commit`).
 *
 * **Gotchas**
 *
 * - Memory: the unit holds the store's writer lock until it ends, so a unit that waits for a write
 *   made by a fiber it did not fork (a queue to a worker, say) waits forever. Fibers forked inside the
 *   unit are part of it.
 * - Keep units short on PostgreSQL: an open append holds back global readers (the horizon) until it
 *   commits. On memory the unit holds the store's writer lock, and on SQLite its one write
 *   transaction, so a unit that idles (a slow call inside it) stalls every reader or writer.
 *
 * **Timeout.** Every unit of work, and every consumer batch committed with its checkpoint (the same
 * transaction, so a handler that hangs holds readers back the same way), is bounded by
 * {@link Timeout} (default 30 seconds), timed from when the unit's effect starts inside the
 * transaction. A unit that runs longer is interrupted and rolled back, and fails with
 * `StoreUnavailable` (operation `UnitOfWork.transaction`, its reason naming the limit): keep units of
 * work short, or raise `UnitOfWork.Timeout` for the calls that need it, program-wide
 * (`Layer.succeed(UnitOfWork.Timeout, "2 minutes")`) or around one call
 * (`Effect.provideService(UnitOfWork.Timeout, "2 minutes")`). `StoreUnavailable` because a rolled-back
 * unit may be run again (a consumer retries its batch), but a retry that idles again fails again.
 * 30 seconds: far above any unit that only writes (milliseconds), above common HTTP call timeouts a
 * unit might wrap, and short enough that readers stalled behind it recover before a consumer lease
 * or a health check gives up on them. A nested unit (a savepoint) has its own limit, under the
 * outer one.
 *
 * @example
 * import { DocumentStore, EventStore, ExpectedVersion, UnitOfWork } from "@strata/core"
 * import { Effect, Schema } from "effect"
 *
 * const Transfers = DocumentStore.collection("transfers", Schema.Struct({ amount: Schema.Number }))
 *
 * const transfer = UnitOfWork.transaction(Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const docs = yield* DocumentStore.DocumentStore
 *   yield* store.append("account-a", [{ type: "Withdrawn", data: { amount: 10 } }], { expected: ExpectedVersion.exact(4n) })
 *   yield* store.append("account-b", [{ type: "Deposited", data: { amount: 10 } }], { expected: ExpectedVersion.exact(0n) })
 *   yield* docs.put(Transfers, "t-1", { amount: 10 }, { expected: "missing" })
 * }))
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DocumentCodec from "./backend/DocumentCodec.ts"
import * as Replay from "./backend/Replay.ts"
import { type Collection, DocumentStore, type ExpectedDocument } from "./DocumentStore.ts"
import { type AppendRequest, type AppendResult, EventStore } from "./EventStore.ts"
import { type DocumentStoreError, InvalidArgument, StoreUnavailable, Unsupported } from "./StoreError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface UnitOfWorkShape {
  /** The backend, named in `Unsupported` errors and spans. */
  readonly backend: string
  /** Whether {@link transaction} works (interactive transactions); otherwise only {@link commit}'s one-batch forms. */
  readonly interactive: boolean
  /** Runs `effect` as one unit of work: its writes through the store commit together or not at all. */
  readonly transaction: <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | Unsupported | StoreUnavailable, R>
}

/**
 * A unit of work for a backend that has none: fails with `Unsupported`, naming why and the atomic
 * forms it does have, without running the effect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unsupported = (backend: string, detail: string): UnitOfWorkShape => ({
  backend,
  interactive: false,
  transaction: () => Effect.fail(new Unsupported({ operation: "UnitOfWork.transaction", backend, detail }))
})

/**
 * How long a unit of work (and a consumer batch committed with its checkpoint) may run before it is
 * interrupted, rolled back and failed with `StoreUnavailable` (see the module documentation).
 * Default 30 seconds; `Duration.infinity` turns the bound off.
 *
 * @category references
 * @since 0.1.0
 */
export const Timeout: Context.Reference<Duration.Input> = Context.Reference<Duration.Input>(
  "@strata/core/UnitOfWork/Timeout",
  { defaultValue: () => "30 seconds" }
)

/**
 * Whether a unit of work (or a consumer batch committed with its checkpoint) is open in the current
 * fiber: {@link bounded} sets it inside every transaction of a store. Work that cannot join the
 * unit reads it to refuse instead of committing apart (a job queue on another store: `JobQueue`).
 *
 * @category references
 * @since 0.1.0
 */
export const Open: Context.Reference<boolean> = Context.Reference<boolean>("@strata/core/UnitOfWork/Open", {
  defaultValue: () => false
})

/**
 * Bounds a backend's `transaction` by {@link Timeout}: the effect runs under the limit inside the
 * transaction, so one that runs longer is interrupted, the transaction rolls back, and the unit fails
 * with `StoreUnavailable`. `Store.make` applies it once, to units of work and consumer batches alike.
 *
 * @category combinators
 * @since 0.1.0
 */
export const bounded = (
  transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreUnavailable, R>
) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreUnavailable, R> =>
  Effect.flatMap(Effect.service(Timeout), (limit) => {
    const duration = Duration.fromInputUnsafe(limit)
    const marked = Effect.provideService(effect, Open, true)
    return Duration.isFinite(duration)
      ? transaction(Effect.timeoutOrElse(marked, {
        duration,
        orElse: () =>
          Effect.fail(
            new StoreUnavailable({
              operation: "UnitOfWork.transaction",
              reason: `the unit of work ran longer than ${
                Duration.format(duration)
              } and was rolled back, holding back readers meanwhile; keep units of work short, or raise UnitOfWork.Timeout`
            })
          )
      }))
      : transaction(marked)
  })

/**
 * The unit of work of the store in context; every store layer provides it (derived from how its
 * backend commits).
 *
 * @category services
 * @since 0.1.0
 */
export class UnitOfWork extends Context.Service<UnitOfWork, UnitOfWorkShape>()("@strata/core/UnitOfWork") {}

/**
 * Runs `effect` as one unit of work of the store in context (see the module documentation).
 *
 * @category combinators
 * @since 0.1.0
 */
export const transaction = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | Unsupported | StoreUnavailable, R | UnitOfWork> =>
  UnitOfWork.use((unit) => unit.transaction(effect)).pipe(
    Effect.withSpan("UnitOfWork.transaction")
  )

/**
 * One document write of a {@link Batch}.
 *
 * @category models
 * @since 0.1.0
 */
export interface DocumentWrite<A = any, I = any> {
  readonly collection: Collection<A, I>
  readonly id: string
  readonly value: A
  /** Defaults to `"any"`. */
  readonly expected?: ExpectedDocument | undefined
}

/**
 * Writes known up front, committed together by {@link commit}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Batch {
  readonly appends?: ReadonlyArray<AppendRequest> | undefined
  readonly documents?: ReadonlyArray<DocumentWrite> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface BatchResult {
  /** One result per append request, in order. */
  readonly appended: ReadonlyArray<AppendResult>
  /** The version each document write produced, in order. */
  readonly documents: ReadonlyArray<bigint>
}

// Guarded: an event whose fields throw is not a replay; the append refuses it typed.
const everyEventHasId = (appends: ReadonlyArray<AppendRequest>) => {
  try {
    return appends.every((request) =>
      request.events.length > 0 && request.events.every((event) => event?.id !== undefined)
    )
  } catch {
    return false
  }
}

// A repeated commit (every append a replay): each document must be the one it wrote, by the rule of a
// put with events (`Replay.sameDocument`); its version is then the original answer, and nothing is
// written. Otherwise the ids belong to another write.
const original = (docs: DocumentStore["Service"], write: DocumentWrite, appends: ReadonlyArray<AppendRequest>) =>
  Effect.gen(function*() {
    const expected = yield* DocumentCodec.expected(write.expected)
    const json = yield* DocumentCodec.encode(write.collection, write.id, write.value, Number.MAX_SAFE_INTEGER)
    const stored = yield* docs.get(write.collection, write.id)
    const encoded = Option.isNone(stored) ? undefined : yield* DocumentCodec.encode(
      write.collection,
      write.id,
      stored.value.value,
      Number.MAX_SAFE_INTEGER
    )
    const version = Replay.sameDocument(
      { expected, json },
      Option.isNone(stored) || encoded === undefined
        ? undefined
        : { version: stored.value.version, encoded: JSON.parse(encoded) }
    )
    if (version !== undefined) return version
    return yield* Replay.notTheSameWrite(
      appends.map((request) => ({
        stream: request.stream,
        ids: request.events.map((event) => event.id!.toLowerCase())
      }))
    )
  })

/**
 * Commits writes known up front (appends to several streams, each with its expected version, and
 * document writes) all together or not at all, on every backend where they fit one atomic step:
 * - with interactive transactions (memory, SQLite, PostgreSQL): any number of each, in one
 *   {@link transaction};
 * - D1 and KurrentDB: appends only (one `appendMany`: a D1 batch, a KurrentDB multi-stream append),
 *   or one document with any appends (one `put` with `events`). More documents fail with `Unsupported`
 *   naming why, before anything is written.
 *
 * A commit repeated with the same event ids (every event carrying its own id, as after a lost reply)
 * follows the replay rule of a put with events (`Replay` in `@strata/core/backend`), on every
 * backend: when every append is a replay and every document is stored with the same value at the
 * version that commit produced, it answers the original result and writes nothing; when the
 * documents differ, it fails with `DuplicateEvent`. On the transactional path that costs one
 * `streamInfo` per append, only for batches whose events all carry ids and that write documents.
 *
 * @example
 * ```ts
 * import { DocumentStore, Event, ExpectedVersion, UnitOfWork } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const Transfers = DocumentStore.collection("transfers", Schema.Struct({ amount: Schema.Number }))
 * const transfer = UnitOfWork.commit({
 *   appends: [
 *     { stream: "account-a", events: [Event.make("Withdrawn", { amount: 10 })], expected: ExpectedVersion.exact(4n) },
 *     { stream: "account-b", events: [Event.make("Deposited", { amount: 10 })], expected: ExpectedVersion.exact(7n) }
 *   ],
 *   documents: [{ collection: Transfers, id: "t-1", value: { amount: 10 }, expected: "missing" }]
 * })
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const commit = (
  batch: Batch
): Effect.Effect<BatchResult, DocumentStoreError, EventStore | DocumentStore | UnitOfWork> =>
  Effect.gen(function*() {
    const unit = yield* UnitOfWork
    const store = yield* EventStore
    const docs = yield* DocumentStore
    const appends = batch.appends ?? []
    const documents = batch.documents ?? []
    if (appends.length === 0 && documents.length === 0) {
      return yield* new InvalidArgument({ operation: "UnitOfWork.commit", detail: "the batch has no writes" })
    }
    if (unit.interactive) {
      return yield* unit.transaction(Effect.gen(function*() {
        // A repeat of a commit (its appends all replays) may be one only when every event carries
        // its caller's id: note where each stream stood, as a replay answers at or below it.
        const before = documents.length > 0 && appends.length > 0 && everyEventHasId(appends)
          ? yield* Effect.forEach(appends, (request) => store.streamInfo(request.stream))
          : undefined
        const appended = appends.length === 0 ? [] : yield* store.appendMany(appends)
        const replayed = before !== undefined && appended.every((result, i) => {
          const last = before[i].lastVersion
          return last !== undefined && result.nextExpectedVersion <= last
        })
        const versions = yield* Effect.forEach(
          documents,
          (write) =>
            replayed
              ? original(docs, write, appends)
              : Effect.map(
                docs.put(write.collection, write.id, write.value, { expected: write.expected }),
                (r) => r.version
              )
        )
        return { appended, documents: versions }
      }))
    }
    if (documents.length === 0) return { appended: yield* store.appendMany(appends), documents: [] }
    if (documents.length === 1) {
      const [write] = documents
      const result = yield* docs.put(write.collection, write.id, write.value, {
        expected: write.expected,
        ...(appends.length === 0 ? {} : { events: appends })
      })
      return { appended: result.appended, documents: [result.version] }
    }
    return yield* new Unsupported({
      operation: "UnitOfWork.commit",
      backend: unit.backend,
      detail:
        `one atomic step here carries the appends and at most one document write, and this batch has ${documents.length}: split it, or keep one document per batch`
    })
  }).pipe(Effect.withSpan("UnitOfWork.commit"))
