/**
 * The one record a storage engine gives Strata. A backend builds a {@link Backend}: its EventStore and
 * DocumentStore (undecorated), its StoreAdmin, its lease and parked-event storage where it has them,
 * what it can do ({@link Capabilities}), and how it commits a consumer batch atomically
 * ({@link Commit}). Core derives every service a store layer provides from it, once (`Store.layer`
 * over `Store.make`): spans, retry and metrics, `UnitOfWork`, `Consumer.Checkpoints`, `LeaseStore`,
 * `ParkedEvents` and inline projections, so no backend can forget one.
 *
 * The model is effect's `SqlClient.make`: a driver gives a small record, the library builds the client.
 *
 * @example
 * ```ts
 * import { Store } from "@strata/core"
 * import { Backend } from "@strata/core/backend"
 * import { Effect } from "effect"
 *
 * declare const makeMine: Effect.Effect<Backend.Backend>
 * // every service, decorated, from one record:
 * const MineLive = Store.layerBackend(makeMine)
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import type { Collection, Document, DocumentStoreShape, DocumentWrite } from "../DocumentStore.ts"
import type { NewEvent, RecordedEvent } from "../Event.ts"
import type { EventStoreShape, Query } from "../EventStore.ts"
import type { JobStore } from "../jobs/JobStore.ts"
import type { StoreAdminShape } from "../StoreAdmin.ts"
import type { DocumentConflict, InvalidDocument, LeaseLost, ProjectionFailed, StoreUnavailable } from "../StoreError.ts"
import { InvalidArgument, Unsupported } from "../StoreError.ts"
import type { Lease, LeaseStoreShape } from "./LeaseStore.ts"
import type * as Otel from "./Otel.ts"
import type { ParkedEventStore } from "./ParkedEvents.ts"

/**
 * How a backend commits work atomically, which decides what units of work and consumer checkpoints
 * can promise:
 * - `Transactional` (memory, SQLite, PostgreSQL): `transaction` runs an effect as one unit of work.
 *   Consumer batches commit their handler's writes, the lease check and the checkpoint in it:
 *   exactly once.
 * - `Batched` (D1): no interactive transactions, but `saveCheckpoint` checks a lease and saves a
 *   checkpoint in one atomic batch. The handler's writes run before it: at least once.
 * - `None` (KurrentDB): the handler's writes, the lease check and the checkpoint are separate
 *   writes: at least once.
 *
 * `detail` says why `UnitOfWork.transaction` is `Unsupported` and which atomic forms the backend has.
 *
 * @category models
 * @since 0.1.0
 */
export type Commit =
  | {
    readonly _tag: "Transactional"
    readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreUnavailable, R>
  }
  | {
    readonly _tag: "Batched"
    readonly detail: string
    /** Saves `position` as `name`'s checkpoint in one atomic step that fails with `LeaseLost` unless `lease` is current. */
    readonly saveCheckpoint: (
      name: string,
      position: bigint,
      lease: Lease | undefined
    ) => Effect.Effect<void, InvalidArgument | StoreUnavailable | LeaseLost>
  }
  | { readonly _tag: "None"; readonly detail: string }

/**
 * What a backend can do, as data: the conformance suite reads it from the layer instead of being
 * told. What the record already shows (units of work, transactional checkpoints, leases, parking,
 * inline projections) is derived from the record, not restated here.
 *
 * @category models
 * @since 0.1.0
 */
export interface Capabilities {
  /** `appendMany` is atomic across streams (otherwise it fails with `Unsupported` and writes nothing). */
  readonly appendMany: boolean
  /** The largest event, in UTF-8 bytes of JSON. */
  readonly maxEventBytes: number
  /** The largest document, in UTF-8 bytes of JSON. */
  readonly maxDocumentBytes: number
  /** The largest integer stored exactly (checkpoints, snapshot versions): 2^63 - 1, or 2^53 - 1 on D1. */
  readonly maxInteger: bigint
  /**
   * Reusing stored event ids other than as an exact replay fails with `DuplicateEvent`. KurrentDB's
   * idempotency check is per stream and positional, so it does not.
   */
  readonly rejectsReusedEventIds: boolean
  /** `exact(last version)` still matches a soft-deleted stream (KurrentDB's expected-revision check). */
  readonly exactMatchesSoftDeleted: boolean
  /** The finest `maxAge` retention the backend keeps, in milliseconds (KurrentDB keeps whole seconds). */
  readonly maxAgeResolutionMillis: number
  /** StoreAdmin lists and deletes consumer checkpoints. */
  readonly listsCheckpoints: boolean
  /**
   * Dynamic consistency boundaries: events carry tags, `readAll({ query })` reads by DCB query and
   * appends take a `condition`. Off by default: where it is off, core refuses tags and conditions
   * with `Unsupported` (and a query read with `InvalidArgument`) before the backend sees them
   * ({@link guardDcb}), so a backend that would ignore them never drops one silently.
   */
  readonly dcb: boolean
}

/**
 * Work that runs inside every append's atomic step once its events are written, given them as
 * recorded (inline projections); its failure fails the append and nothing is written.
 *
 * @category models
 * @since 0.1.0
 */
export type BeforeCommit = (
  events: ReadonlyArray<RecordedEvent>
) => Effect.Effect<void, ProjectionFailed | StoreUnavailable>

/**
 * Documents that answer synchronously, for {@link SyncInlineWork}: `getMany` and `writeMany` with the
 * rules of `DocumentStoreShape`'s, each giving its `Exit`, or `undefined` where it cannot answer
 * synchronously (the work then stops, and the backend runs it on its transactional path instead).
 *
 * @category models
 * @since 0.1.0
 */
export interface SyncDocuments {
  readonly getMany: <A, I>(
    collection: Collection<A, I>,
    ids: ReadonlyArray<string>
  ) => Exit.Exit<ReadonlyArray<Document<A>>, InvalidDocument | InvalidArgument | StoreUnavailable> | undefined
  readonly writeMany: <A, I>(
    collection: Collection<A, I>,
    writes: ReadonlyArray<DocumentWrite<A>>
  ) =>
    | Exit.Exit<
      ReadonlyArray<bigint | undefined>,
      DocumentConflict | InvalidDocument | InvalidArgument | StoreUnavailable
    >
    | undefined
}

/**
 * The inline work of {@link BeforeCommit}, run synchronously over {@link SyncDocuments}: for a
 * backend whose append is one synchronous write (SQLite), which runs it inside that write. It gives
 * the work's `Exit` (the same outcome as `BeforeCommit`'s), or `undefined` where the work cannot
 * finish synchronously (a projection whose codec or document schema is asynchronous, or documents
 * that did not answer): the backend then rolls its write back and runs `BeforeCommit` instead.
 *
 * @category models
 * @since 0.1.0
 */
export type SyncInlineWork = (
  documents: SyncDocuments
) => (
  events: ReadonlyArray<RecordedEvent>
) => Exit.Exit<void, ProjectionFailed | StoreUnavailable> | undefined

/**
 * What a storage engine gives Strata (see the module documentation).
 *
 * @category models
 * @since 0.1.0
 */
export interface Backend {
  /** The backend's name in spans, metrics and errors. */
  readonly name: string
  /**
   * Where its operations go, for the spans' `db.namespace`, `server.address` and `server.port`
   * (`Otel.connectionFromUrl` builds one from a URL without its credentials). Absent: the spans
   * carry `db.system.name` from {@link name} only.
   */
  readonly connection?: Otel.Connection | undefined
  /** The EventStore, without spans, retry or metrics: core adds them. */
  readonly eventStore: EventStoreShape
  /** The DocumentStore, likewise undecorated. */
  readonly documentStore: DocumentStoreShape
  readonly admin: StoreAdminShape
  readonly commit: Commit
  /** Lease storage; absent: leases and consumer groups fail with `Unsupported`. */
  readonly leases?: LeaseStoreShape | undefined
  /**
   * Job storage that shares the store's units of work (the memory backend's), for
   * `JobQueue.layerStore`. Absent: job queues come from their own layer (`SqlJobs.layer` on SQL).
   */
  readonly jobs?: JobStore | undefined
  /**
   * The database handle whose append batches write the jobs an append carries (`JobStore.Carried`),
   * on a backend without transactions (D1: its SqlClient). Absent: such a backend refuses appends
   * that carry jobs.
   */
  readonly jobBatch?: unknown
  /** Parked-event storage; absent: a consumer with `parkAfter` refuses to start with `Unsupported`. */
  readonly parkedEvents?: ParkedEventStore | undefined
  /**
   * The events a DCB query matches, in position order and gap-free as `readAll({ query })` gives
   * them, as one array: `Dcb.decide`'s read, without a Stream. Absent: decisions read `readAll`.
   */
  readonly readQuery?:
    | ((query: Query) => Effect.Effect<Array<RecordedEvent>, InvalidArgument | StoreUnavailable>)
    | undefined
  /**
   * Installs work to run inside every append's atomic step (inline projections). Absent where an
   * append cannot run work before it commits (D1's batches, KurrentDB): inline projections are then
   * refused with `Unsupported`. `types` are the event types the work acts on: an append carrying
   * none of them may commit without it (SQL backends then keep their one-statement path). `sync`
   * is the same work run synchronously ({@link SyncInlineWork}), for a backend whose append is one
   * synchronous write (SQLite); others ignore it.
   */
  readonly beforeCommit?:
    | ((work: BeforeCommit, types: ReadonlySet<string>, sync: SyncInlineWork) => void)
    | undefined
  readonly capabilities: Capabilities
}

/**
 * The backend record a store layer was built from, undecorated. `Store.layer` reads it to decorate
 * again with other options; the conformance suite reads its capabilities.
 *
 * @category services
 * @since 0.1.0
 */
export const Backend: Context.Service<Backend, Backend> = Context.Service<Backend>("@strata/core/backend/Backend")

/**
 * Capabilities of a backend that does what the contract asks and nothing less: atomic `appendMany`,
 * 1 MiB events and documents, 64-bit integers, reused ids refused, millisecond retention, listable
 * checkpoints. DCB is off unless a backend turns it on (`dcb: true`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const capabilities = (overrides: Partial<Capabilities> = {}): Capabilities => ({
  appendMany: true,
  maxEventBytes: 1024 * 1024,
  maxDocumentBytes: overrides.maxEventBytes ?? 1024 * 1024,
  maxInteger: 9_223_372_036_854_775_807n,
  rejectsReusedEventIds: true,
  exactMatchesSoftDeleted: false,
  maxAgeResolutionMillis: 1,
  listsCheckpoints: true,
  dcb: false,
  ...overrides
})

// What a backend without DCB would need, where it is known.
const dcbRequirement: Record<string, string> = {
  kurrentdb:
    "KurrentDB checks stream states only (26.1's appendRecords has no query check), so a condition over tags and types would need a tag index Strata does not build yet"
}

/**
 * Why `backend` cannot do DCB (tags, query reads, conditional appends), for its `Unsupported` errors.
 *
 * @category constructors
 * @since 0.1.0
 */
export const dcbUnsupported = (backend: string, operation: string): Unsupported =>
  new Unsupported({
    operation,
    backend,
    detail: `dynamic consistency boundaries (event tags, query reads, conditional appends): ${
      dcbRequirement[backend] ?? "the backend does not declare the dcb capability"
    }`
  })

const dcbUsed = (
  events: ReadonlyArray<NewEvent> | unknown,
  condition: unknown
): boolean => {
  if (condition !== undefined) return true
  // Guarded: an event whose fields throw uses no DCB here; the backend's prepare refuses it typed.
  try {
    return Array.isArray(events) &&
      events.some((event: NewEvent | null | undefined) =>
        typeof event === "object" && event !== null && event.tags !== undefined &&
        (!Array.isArray(event.tags) || event.tags.length > 0)
      )
  } catch {
    return false
  }
}

/**
 * The backend's EventStore as core hands it to the decorators: unchanged when the backend declares
 * `dcb`; otherwise appends that carry tags or a condition fail with `Unsupported` and a
 * `readAll({ query })` with `InvalidArgument`, writing and reading nothing (instead of the backend
 * silently dropping what it does not know).
 *
 * @category combinators
 * @since 0.1.0
 */
export const guardDcb = (backend: Backend): EventStoreShape => {
  const self = backend.eventStore
  if (backend.capabilities.dcb) return self
  return {
    ...self,
    append: (stream, events, options) =>
      dcbUsed(events, options?.condition)
        ? Effect.fail(dcbUnsupported(backend.name, "append"))
        : self.append(stream, events, options),
    appendMany: (requests) =>
      Array.isArray(requests) &&
        requests.some((request) =>
          typeof request === "object" && request !== null && dcbUsed(request.events, request.condition)
        )
        ? Effect.fail(dcbUnsupported(backend.name, "appendMany"))
        : self.appendMany(requests),
    readAll: (options) =>
      options?.query === undefined
        ? self.readAll(options)
        : Stream.fail(
          new InvalidArgument({
            operation: "readAll",
            detail: dcbUnsupported(backend.name, "readAll({ query })").message
          })
        )
  }
}

/**
 * Whether consumer checkpoints commit with the handler's writes (exactly once) on this backend.
 *
 * @category guards
 * @since 0.1.0
 */
export const isTransactional = (backend: Backend): boolean => backend.commit._tag === "Transactional"
