/**
 * Operating a store rather than using it: schema migrations, the list of consumer checkpoints, and
 * counts for a dashboard. The `strata` command line is built on it; a program may call it too.
 *
 * Every backend provides it: memory and the SQL backends answer everything; a backend that cannot
 * answer a question fails with a typed `Unsupported` (KurrentDB has no schema to migrate, and
 * {@link layerScan} gives any EventStore statistics computed by reading the global log).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { EventStore, type EventStoreShape } from "./EventStore.ts"
import type { InvalidArgument, StoreUnavailable } from "./StoreError.ts"
import { Unsupported } from "./StoreError.ts"
import * as StreamName from "./StreamName.ts"

/**
 * A schema migration, applied or pending.
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrationInfo {
  readonly id: number
  readonly name: string
  /** When it was applied (ISO 8601 as the database stored it); absent while pending. */
  readonly appliedAt?: string | undefined
}

/**
 * Which migrations the database has and which it still lacks.
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrationStatus {
  readonly applied: ReadonlyArray<MigrationInfo>
  readonly pending: ReadonlyArray<MigrationInfo>
}

/**
 * A named consumer's checkpoint, and how many events of the global log lie after it.
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckpointInfo {
  readonly name: string
  readonly position: bigint
  /**
   * Events in the global log after the checkpoint: an upper bound of the consumer's work left (a
   * consumer with a filter skips some of them).
   */
  readonly lag: number
}

/**
 * A count per key (event type, stream category), largest first.
 *
 * @category models
 * @since 0.1.0
 */
export interface Count {
  readonly key: string
  readonly count: number
}

/**
 * What a store holds.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreStats {
  /** Streams that were ever written (deleted and tombstoned ones included). */
  readonly streams: number
  /** Events in the global log. */
  readonly events: number
  /** Position of the last event; absent in an empty store. */
  readonly head: bigint | undefined
  readonly byType: ReadonlyArray<Count>
  readonly byCategory: ReadonlyArray<Count>
  /** Size of the database in bytes, where the backend can tell. */
  readonly databaseBytes: number | undefined
}

/**
 * @category errors
 * @since 0.1.0
 */
export type AdminError = Unsupported | StoreUnavailable

/**
 * @category models
 * @since 0.1.0
 */
export interface StoreAdminShape {
  readonly backend: string
  /** The migrations applied and still pending. A backend without a schema answers with two empty lists. */
  readonly migrationStatus: Effect.Effect<MigrationStatus, AdminError>
  /** Applies the pending migrations; returns the ids applied (empty when the schema was current). */
  readonly migrate: Effect.Effect<ReadonlyArray<number>, AdminError>
  /** Every stored consumer checkpoint, by name. */
  readonly checkpoints: Effect.Effect<ReadonlyArray<CheckpointInfo>, AdminError>
  /** Removes a checkpoint, so its consumer starts from the beginning. False when there was none. */
  readonly deleteCheckpoint: (name: string) => Effect.Effect<boolean, InvalidArgument | AdminError>
  readonly stats: Effect.Effect<StoreStats, AdminError>
}

/**
 * The StoreAdmin service.
 *
 * @example
 * import { StoreAdmin } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const admin = yield* StoreAdmin.StoreAdmin
 *   const { pending } = yield* admin.migrationStatus
 *   const stats = yield* admin.stats
 *   return { pending: pending.length, events: stats.events }
 * })
 *
 * @category services
 * @since 0.1.0
 */
export class StoreAdmin extends Context.Service<StoreAdmin, StoreAdminShape>()("@strata/core/StoreAdmin") {}

/**
 * Sorts counts largest first (then by key), as {@link StoreStats} lists them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const sortCounts = (counts: Iterable<readonly [string, number]>): ReadonlyArray<Count> =>
  Array.from(counts, ([key, count]) => ({ key, count })).sort((a, b) =>
    b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  )

/**
 * Statistics of any EventStore computed by reading its whole global log once: time grows with the
 * number of events, memory with the number of streams, types and categories.
 *
 * @category constructors
 * @since 0.1.0
 */
export const scanStats = (
  store: EventStore["Service"]
): Effect.Effect<StoreStats, InvalidArgument | StoreUnavailable> =>
  Effect.gen(function*() {
    const streams = new Set<string>()
    const byType = new Map<string, number>()
    const byCategory = new Map<string, number>()
    let events = 0
    let head: bigint | undefined
    yield* Stream.runForEach(store.readAll(), (event) =>
      Effect.sync(() => {
        events++
        head = event.position
        streams.add(event.stream)
        byType.set(event.type, (byType.get(event.type) ?? 0) + 1)
        const category = StreamName.category(event.stream)
        byCategory.set(category, (byCategory.get(category) ?? 0) + 1)
      }))
    return {
      streams: streams.size,
      events,
      head,
      byType: sortCounts(byType),
      byCategory: sortCounts(byCategory),
      databaseBytes: undefined
    }
  })

/**
 * A StoreAdmin for a backend without queries: statistics computed by reading the global log
 * ({@link scanStats}), no schema, and consumer checkpoints not listable.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeScan = (store: EventStoreShape): StoreAdminShape => {
  const unsupported = (operation: string) =>
    Effect.fail(
      new Unsupported({
        operation,
        backend: store.backend,
        detail: `the ${store.backend} backend cannot list or delete consumer checkpoints`
      })
    )
  return {
    backend: store.backend,
    migrationStatus: Effect.succeed({ applied: [], pending: [] }),
    migrate: Effect.succeed([]),
    checkpoints: unsupported("checkpoints"),
    deleteCheckpoint: () => unsupported("deleteCheckpoint"),
    stats: Effect.catchTag(
      scanStats(store),
      "InvalidArgument",
      (error) => Effect.die(error) // readAll() without options cannot be refused
    )
  }
}

/**
 * {@link makeScan} over the EventStore in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerScan: Layer.Layer<StoreAdmin, never, EventStore> = Layer.effect(StoreAdmin)(
  Effect.map(EventStore, (store) => StoreAdmin.of(makeScan(store)))
)
