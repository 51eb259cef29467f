/**
 * What a backend tells the conformance suite about itself.
 *
 * @since 0.1.0
 */
import type { Vitest } from "@effect/vitest"
import type { DocumentStore, EventStore, StoreAdmin } from "@strata/core"
import { Event } from "@strata/core"
import type * as Duration from "effect/Duration"

/**
 * Options of `suite` (see index.ts): every field has a default that suits the
 * in-memory backend and the SQL backends.
 *
 * @category models
 * @since 0.1.0
 */
export interface SuiteOptions {
  /**
   * Whether `appendMany` is atomic across streams on this backend. When false the suite checks that
   * it fails with `Unsupported` and writes nothing. Default true.
   */
  readonly supportsAppendMany?: boolean | undefined
  /** The largest event the backend accepts, in UTF-8 bytes of JSON. Default 1 MiB. */
  readonly maxEventBytes?: number | undefined
  /** The largest document the backend accepts, in UTF-8 bytes of JSON. Default: `maxEventBytes`. */
  readonly maxDocumentBytes?: number | undefined
  /**
   * Events in the "long stream" tests: pick more than twice the backend's page size so reads and
   * subscriptions cross page boundaries. Default 600.
   */
  readonly longStreamLength?: number | undefined
  /**
   * The largest integer the backend stores exactly (checkpoints, snapshot versions). Above it the
   * suite expects InvalidArgument. Default 2^63 - 1; D1 stores 2^53 - 1.
   */
  readonly maxInteger?: bigint | undefined
  /**
   * Events in the largest multi-stream append and document-with-events tests (split over two
   * streams): more than one statement's worth of bound parameters. Default 8,000.
   */
  readonly largeAppendEvents?: number | undefined
  /**
   * Whether consumer checkpoints commit in one transaction with the handler's document writes (the
   * layer provides a transactional `Consumer.Checkpoints`). Default true; D1 has no transactions.
   */
  readonly transactionalCheckpoints?: boolean | undefined
  /**
   * Whether the backend layer provides a `ParkedEvents` store, so supervised consumers can park poison
   * events. Default true. When false the suite checks that a consumer with `parkAfter` refuses to
   * start with `Unsupported`.
   */
  readonly supportsParking?: boolean | undefined
  /** Fibers appending at once in the concurrency tests. Default 8. */
  readonly writers?: number | undefined
  /** Appends per fiber in the concurrency tests. Default 25. */
  readonly appendsPerWriter?: number | undefined
  /**
   * The longest interval at which the backend's subscriptions poll for writes they were not woken
   * for. "Nothing more is delivered" checks wait this long plus a margin, so a repeat that would
   * only show up on the next poll is seen. Default 500 ms (PostgreSQL's default; SQLite and D1 poll
   * every 250 ms).
   */
  readonly pollInterval?: Duration.Input | undefined
  /** How long a subscription may take to deliver what a test waits for before the test fails. Default 10 s. */
  readonly deliveryTimeout?: Duration.Input | undefined
  /** Timeout for building and closing the backend Layer. Default 60 s. */
  readonly timeout?: Duration.Input | undefined
  /**
   * Whether reusing stored event ids other than as an exact replay (another stream, another order, a new
   * id before a stored one) fails with `DuplicateEvent`. Default true. When false those tests are
   * registered as skipped. KurrentDB: its idempotency check is per stream and positional.
   */
  readonly rejectsReusedEventIds?: boolean | undefined
  /**
   * Whether `exact(last version)` still matches a soft-deleted stream (and appends). Default false.
   * KurrentDB: its expected-revision check ignores the soft delete.
   */
  readonly exactMatchesSoftDeleted?: boolean | undefined
  /** The `maxAge` the retention tests set, in milliseconds. Default 500; KurrentDB keeps whole seconds. */
  readonly maxAgeMillis?: number | undefined
  /** The backend's StoreAdmin lists and deletes consumer checkpoints (KurrentDB's does not). Default true. */
  readonly listsCheckpoints?: boolean | undefined
  /**
   * Whether `UnitOfWork.transaction` is supported (interactive transactions). Default true. When false
   * the suite checks that it fails with `Unsupported` without running the effect (D1, KurrentDB).
   */
  readonly unitsOfWork?: boolean | undefined
}

/**
 * Options with every default filled in.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResolvedOptions {
  readonly supportsAppendMany: boolean
  readonly maxEventBytes: number
  readonly maxDocumentBytes: number
  readonly longStreamLength: number
  readonly maxInteger: bigint
  readonly largeAppendEvents: number
  readonly transactionalCheckpoints: boolean
  readonly supportsParking: boolean
  readonly writers: number
  readonly appendsPerWriter: number
  readonly pollInterval: Duration.Input
  readonly deliveryTimeout: Duration.Input
  readonly timeout: Duration.Input
  readonly rejectsReusedEventIds: boolean
  readonly exactMatchesSoftDeleted: boolean
  readonly maxAgeMillis: number
  readonly listsCheckpoints: boolean
  readonly unitsOfWork: boolean
}

/**
 * Fills in the defaults.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resolve = (options: SuiteOptions | undefined): ResolvedOptions => ({
  supportsAppendMany: options?.supportsAppendMany ?? true,
  maxEventBytes: options?.maxEventBytes ?? Event.defaultMaxEventBytes,
  maxDocumentBytes: options?.maxDocumentBytes ?? options?.maxEventBytes ?? Event.defaultMaxEventBytes,
  longStreamLength: options?.longStreamLength ?? 600,
  maxInteger: options?.maxInteger ?? 9_223_372_036_854_775_807n,
  largeAppendEvents: options?.largeAppendEvents ?? 8_000,
  transactionalCheckpoints: options?.transactionalCheckpoints ?? true,
  supportsParking: options?.supportsParking ?? true,
  writers: options?.writers ?? 8,
  appendsPerWriter: options?.appendsPerWriter ?? 25,
  pollInterval: options?.pollInterval ?? "500 millis",
  deliveryTimeout: options?.deliveryTimeout ?? "10 seconds",
  timeout: options?.timeout ?? "60 seconds",
  rejectsReusedEventIds: options?.rejectsReusedEventIds ?? true,
  exactMatchesSoftDeleted: options?.exactMatchesSoftDeleted ?? false,
  maxAgeMillis: options?.maxAgeMillis ?? 500,
  listsCheckpoints: options?.listsCheckpoints ?? true,
  unitsOfWork: options?.unitsOfWork ?? true
})

/**
 * The services the suite's tests need: one EventStore and one DocumentStore sharing a state, and
 * their StoreAdmin.
 *
 * @category models
 * @since 0.1.0
 */
export type Services = EventStore.EventStore | DocumentStore.DocumentStore | StoreAdmin.StoreAdmin

/**
 * The `it` a topic registers its tests with: the one `layer(...)` hands its block.
 *
 * @category models
 * @since 0.1.0
 */
export type ConformanceIt = Vitest.MethodsNonLive<Services>
