/**
 * Consumer groups (competing consumers): N processes share one consumer's work, each event handled
 * by one member, per-stream order kept.
 *
 * The global log is split into `partitions` by a stable hash of the stream name
 * ({@link partitionOf}: FNV-1a, 32 bits, over the name's UTF-8 bytes, modulo the count), so every
 * event of a stream lands in the same partition. Each partition is a lease (`Lease`) held by one
 * member at a time, and a consumer of its own (`Consumer.run` with the checkpoint
 * `<group>/<partition>`), fenced by that lease.
 *
 * **Membership and rebalancing.** Each member holds a membership lease
 * (`strata.group/<group>/member/<id>`) and, every `rebalanceEvery`, counts the live members and aims
 * for `ceil(partitions / members)` partitions: it gives up its extra ones (interrupting their
 * consumers, which releases their leases) and acquires free or expired ones up to its share. A
 * member that dies stops renewing: its partitions are free once their TTL has passed, and the
 * others take them at their next rebalance, resuming after the partition's committed checkpoint.
 *
 * **Delivery.** With transactional checkpoints (PostgreSQL, SQLite, memory) the handler's writes
 * through the store's client, the fencing check and the partition's checkpoint commit in one
 * transaction: every event is handled exactly once across crashes, takeovers and stalled members.
 * Where checkpoints are not transactional (D1, KurrentDB) delivery is at-least-once: a member that
 * dies after its handler's writes and before the checkpoint leaves the batch to be handled again.
 *
 * **Cost.** Each partition's consumer subscribes with the filter's `partition` (`{ count, index }`),
 * so it receives only its partition's events: SQL backends store the stream's hash with each event
 * and filter in the database (the database still walks the position index past other partitions'
 * rows, but they are neither sent, decoded nor checkpointed); memory and KurrentDB filter in
 * process. Checkpoints are committed per batch of the partition's own events (`Consumer`'s batching
 * unless `checkpointEvery` is given).
 *
 * @example
 * ```ts
 * import { ConsumerGroup } from "@strata/core"
 * import { Effect } from "effect"
 *
 * // Run the same program in several processes: they split the 8 partitions between them.
 * const member = ConsumerGroup.run("shipping", {
 *   partitions: 8,
 *   handler: (event) => Effect.log(`${event.stream} ${event.version}`)
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { Schedule } from "effect/Schedule"
import * as Inputs from "../backend/Inputs.ts"
import type { RecordedEvent } from "../Event.ts"
import type { EventFilter, EventStore, SubscribeFrom } from "../EventStore.ts"
import { InvalidArgument, LeaseLost } from "../StoreError.ts"
import * as Consumer from "./Consumer.ts"
import { CurrentGroup } from "./internal/consumer/loop.ts"
import * as Lease from "./Lease.ts"

/**
 * The partition of a stream: FNV-1a (32 bits) over the stream name's UTF-8 bytes, modulo
 * `partitions`. Stable across processes, platforms and releases: changing it would move streams
 * between partitions (and their checkpoints).
 *
 * @category constructors
 * @since 0.1.0
 */
export const partitionOf = (stream: string, partitions: number): number => Inputs.streamHash(stream) % partitions

const isLeaseLost = (error: unknown): error is LeaseLost => error instanceof LeaseLost

/**
 * The checkpoint name of a group's partition: `<group>/<partition>`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const checkpointName = (group: string, partition: number): string => `${group}/${partition}`

/**
 * The lease name of a group's partition.
 *
 * @category constructors
 * @since 0.1.0
 */
export const partitionLease = (group: string, partition: number): string =>
  `strata.group/${group}/partition/${partition}`

/**
 * The prefix of a group's membership leases (one per live member).
 *
 * @category constructors
 * @since 0.1.0
 */
export const memberPrefix = (group: string): string => `strata.group/${group}/member/`

/**
 * @category models
 * @since 0.1.0
 */
export interface GroupOptions<X, R> {
  /** How many partitions the log is split into: the most members that can share the work. 1 to 1024. */
  readonly partitions: number
  /** Handles one event; a failure stops this member (before the event's checkpoint). */
  readonly handler: (event: RecordedEvent) => Effect.Effect<void, X, R>
  /** Which events of the global log to handle; each partition adds its own `partition` to it. */
  readonly filter?: EventFilter | undefined
  /** Where a partition begins when it has no checkpoint yet (see `Consumer.ConsumerOptions.from`). */
  readonly from?: SubscribeFrom | undefined
  /** Events of the partition per checkpoint commit. Default: the consumer's (adaptive batches). */
  readonly checkpointEvery?: number | undefined
  /** Restarts after transient failures (see `Consumer.ConsumerOptions.retry`). */
  readonly retry?: Schedule<unknown, unknown> | undefined
  /**
   * Lease TTL of memberships and partitions: the longest a dead member's partitions wait before
   * another member takes them (plus one `rebalanceEvery`). Default 15 seconds.
   */
  readonly ttl?: Duration.Input | undefined
  /** How often a member renews its leases and rebalances. Default a third of the TTL. */
  readonly rebalanceEvery?: Duration.Input | undefined
  /** This member's id (logs, lease holder). Default a random id. */
  readonly member?: string | undefined
}

/**
 * Runs one member of the consumer group `group` until interrupted or its handler fails. Run the
 * same call in every process that should share the work; fork it with the program's scope.
 *
 * @category operations
 * @since 0.1.0
 */
export const run = <X, R>(
  group: string,
  options: GroupOptions<X, R>
): Effect.Effect<
  never,
  X | Consumer.CheckpointError | Lease.LeaseError,
  R | EventStore | Lease.LeaseStore | Consumer.Checkpoints
> =>
  Effect.gen(function*() {
    const { partitions } = options
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > 1024) {
      return yield* new InvalidArgument({
        operation: "ConsumerGroup.run",
        detail: `partitions must be an integer from 1 to 1024, got ${String(partitions)}`
      })
    }
    const store = yield* Lease.LeaseStore
    const ttl = Duration.fromInputUnsafe(options.ttl ?? "15 seconds")
    const every = options.rebalanceEvery === undefined
      ? Duration.millis(Math.max(1, Math.floor(Duration.toMillis(ttl) / 3)))
      : Duration.fromInputUnsafe(options.rebalanceEvery)
    const member = options.member ?? crypto.randomUUID()
    const holding = { ttl, renewEvery: every, holder: member }
    yield* Lease.checkOptions("ConsumerGroup.run", holding)
    // Members start their search at different partitions, so joining members rarely race for one.
    const offset = partitionOf(member, partitions)

    const worker = (lease: Lease.Lease, partition: number) =>
      Lease.hold(store, lease, holding, (held) =>
        Consumer.run(checkpointName(group, partition), {
          // The store reads only this partition's events (in the database on SQL backends).
          filter: { ...options.filter, partition: { count: partitions, index: partition } },
          from: options.from,
          retry: options.retry,
          checkpointEvery: options.checkpointEvery,
          handler: options.handler
        }).pipe(
          Lease.withFencing(held),
          // The spans of its events name the group and the partition.
          Effect.provideService(CurrentGroup, { name: group, partition })
        ))

    // One membership: acquire it, run partitions within it; everything stops if it is lost.
    const membership = Effect.scoped(Effect.gen(function*() {
      const scope = yield* Effect.scope
      const failed = yield* Deferred.make<never, X | Consumer.CheckpointError | Lease.LeaseError>()
      const owned = new Map<number, Fiber.Fiber<unknown, unknown>>()
      const start = (partition: number, lease: Lease.Lease) =>
        Effect.gen(function*() {
          const fiber = yield* worker(lease, partition).pipe(
            Effect.catchIf(
              isLeaseLost,
              (lost) => Effect.logInfo(`group ${group}: partition ${partition} lost (token ${lost.token})`)
            ),
            Effect.catch((error) => Deferred.fail(failed, error)),
            Effect.forkIn(scope)
          )
          owned.set(partition, fiber)
          yield* Effect.logInfo(`group ${group}: ${member} took partition ${partition} (token ${lease.token})`)
        })
      const rebalance = Effect.gen(function*() {
        // Partitions whose worker ended (lease lost) are free to be taken again.
        for (const [partition, fiber] of owned) if (fiber.pollUnsafe() !== undefined) owned.delete(partition)
        const members = (yield* store.list(memberPrefix(group))).length
        const target = Math.ceil(partitions / Math.max(1, members))
        if (owned.size > target) {
          const extra = Array.from(owned.keys()).sort((a, b) => b - a).slice(0, owned.size - target)
          for (const partition of extra) {
            const fiber = owned.get(partition)
            owned.delete(partition)
            if (fiber !== undefined) yield* Fiber.interrupt(fiber)
            yield* Effect.logInfo(`group ${group}: ${member} gave up partition ${partition} (${members} members)`)
          }
        }
        for (let i = 0; i < partitions && owned.size < target; i++) {
          const partition = (offset + i) % partitions
          if (owned.has(partition)) continue
          const acquired = yield* store.acquire(partitionLease(group, partition), member, ttl)
          if (Option.isSome(acquired)) yield* start(partition, acquired.value)
        }
      })
      const loop = Effect.gen(function*() {
        for (;;) {
          yield* rebalance
          yield* Effect.sleep(every)
        }
      })
      yield* Effect.raceFirst(loop, Deferred.await(failed))
    }))

    for (;;) {
      // Every member process has a new random id, so memberships of members long gone would pile
      // up in the lease store (and slow every count): each member clears them as it joins. Before
      // it acquires its own: the membership's TTL runs from the acquire, and renewals only start
      // with `hold`, so a prune in between (slow on a loaded machine) would spend the TTL.
      yield* store.prune(memberPrefix(group), Duration.millis(Duration.toMillis(ttl) * 10)).pipe(
        Effect.catch((error) => Effect.logWarning(`group ${group}: could not prune old memberships`, error))
      )
      const lease = yield* Lease.acquireWaiting(store, `${memberPrefix(group)}${member}`, holding)
      const started = yield* Clock.currentTimeMillis
      yield* Lease.hold(store, lease, holding, () => membership).pipe(
        Effect.catchTag("LeaseLost", () =>
          Effect.flatMap(
            Clock.currentTimeMillis,
            (now) => Effect.logWarning(`group ${group}: ${member} lost its membership after ${now - started} ms`)
          ))
      )
    }
  }).pipe(Effect.withSpan("ConsumerGroup.run", { attributes: { "strata.consumer.group": group } }))
