/**
 * What a backend tells the conformance suite about itself: nothing it already knows. Its
 * capabilities (atomic `appendMany`, size limits, transactional checkpoints, parking, ...) come from
 * the layer (`Backend.Backend`, derived by `Store.layerBackend`); the options here only tune the
 * tests to the backend's speed.
 *
 * @since 0.1.0
 */
import type { Vitest } from "@effect/vitest"
import type { Store } from "@strata/core"
import { Event } from "@strata/core"
import type { Backend } from "@strata/core/backend"
import type * as Duration from "effect/Duration"

/**
 * Options of `suite` (see index.ts): how hard and how long the tests push. Every field has a default
 * that suits the in-memory backend and the SQL backends.
 *
 * @category models
 * @since 0.1.0
 */
export interface SuiteOptions {
  /**
   * Events in the "long stream" tests: pick more than twice the backend's page size so reads and
   * subscriptions cross page boundaries. Default 600.
   */
  readonly longStreamLength?: number | undefined
  /**
   * Events in the largest multi-stream append and document-with-events tests (split over two
   * streams): more than one statement's worth of bound parameters. Default 8,000.
   */
  readonly largeAppendEvents?: number | undefined
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
  /** The backend declares DCB (tags, query reads, conditional appends); otherwise it must refuse them. */
  readonly dcb: boolean
}

/**
 * Suite options with what the backend says of itself (a topic called by `suite` gets these).
 *
 * @category models
 * @since 0.1.0
 */
export interface BackendOptions extends SuiteOptions {
  readonly supportsAppendMany?: boolean | undefined
  readonly maxEventBytes?: number | undefined
  readonly maxDocumentBytes?: number | undefined
  readonly maxInteger?: bigint | undefined
  readonly transactionalCheckpoints?: boolean | undefined
  readonly supportsParking?: boolean | undefined
  readonly rejectsReusedEventIds?: boolean | undefined
  readonly exactMatchesSoftDeleted?: boolean | undefined
  readonly maxAgeMillis?: number | undefined
  readonly listsCheckpoints?: boolean | undefined
  readonly unitsOfWork?: boolean | undefined
  readonly dcb?: boolean | undefined
}

/**
 * The suite options with what `backend` says of itself: its capabilities, and what its record shows
 * (units of work and transactional checkpoints where it commits in transactions, parking where it
 * keeps parked events).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromBackend = (backend: Backend.Backend, options: SuiteOptions | undefined): BackendOptions => {
  const caps = backend.capabilities
  const transactional = backend.commit._tag === "Transactional"
  return {
    ...options,
    supportsAppendMany: caps.appendMany,
    maxEventBytes: caps.maxEventBytes,
    maxDocumentBytes: caps.maxDocumentBytes,
    maxInteger: caps.maxInteger,
    transactionalCheckpoints: transactional,
    supportsParking: backend.parkedEvents !== undefined,
    rejectsReusedEventIds: caps.rejectsReusedEventIds,
    exactMatchesSoftDeleted: caps.exactMatchesSoftDeleted,
    // Retention tests wait for a maxAge to pass: at least 500 ms, and what the backend can keep.
    maxAgeMillis: Math.max(500, caps.maxAgeResolutionMillis),
    listsCheckpoints: caps.listsCheckpoints,
    unitsOfWork: transactional,
    dcb: caps.dcb
  }
}

/**
 * Fills in the defaults: the tuning defaults, and for what a backend says of itself (when a topic
 * runs outside `suite`), what the contract asks.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resolve = (options: BackendOptions | undefined): ResolvedOptions => ({
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
  unitsOfWork: options?.unitsOfWork ?? true,
  dcb: options?.dcb ?? true
})

/**
 * The services the suite's tests need: every service of one store (`Store.Services`), as every
 * store layer provides them.
 *
 * @category models
 * @since 0.1.0
 */
export type Services = Store.Services

/**
 * The `it` a topic registers its tests with: the one `layer(...)` hands its block.
 *
 * @category models
 * @since 0.1.0
 */
export type ConformanceIt = Vitest.MethodsNonLive<Services>
