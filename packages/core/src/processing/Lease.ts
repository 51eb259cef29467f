/**
 * Leases: one active holder per name across processes, with fencing.
 *
 * A {@link LeaseStore} is the small storage service every backend implements (memory here, a lease
 * table on SQL): `acquire` / `renew` / `release` a named lease for a TTL, each acquisition by a new
 * holder carrying a larger fencing `token`, and `fence`, a check that the token is still current,
 * run inside the caller's transaction. The algorithm lives here, once:
 *
 * - {@link holding} stands by until the lease is free, renews it in the background, interrupts the
 *   work when the lease is lost, and releases it with the work's scope;
 * - {@link singleton} does that forever (lost: stand by again), for a process that should run a
 *   named consumer on exactly one replica;
 * - {@link fenced} wraps a `Consumer.CheckpointStore` so every checkpoint commit checks the lease
 *   token first, in the same transaction on SQL: a holder that stalled past its lease (GC pause,
 *   network partition) cannot commit after another holder took over.
 *
 * Expiry is judged by the clock of the process that calls the store (`Clock`): members' clocks must
 * agree to well within the TTL. A holder also stops by its own clock shortly before its last written
 * expiry (a tenth of the TTL before it), so it stops before anyone else can take over.
 *
 * @example
 * ```ts
 * import { Consumer, Lease } from "@strata/core"
 * import { Effect } from "effect"
 *
 * // On every replica: one of them runs the projector, the others stand by and take over.
 * const projector = Lease.singleton("cart-totals", { ttl: "10 seconds" })((lease) =>
 *   Consumer.run("cart-totals", { handler: () => Effect.void }).pipe(Lease.withFencing(lease))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Lease, type LeaseError, LeaseStore, type LeaseStoreShape } from "../backend/LeaseStore.ts"
import { InvalidArgument, LeaseLost } from "../StoreError.ts"
import * as Checkpoints from "./Checkpoints.ts"

export {
  /**
   * An in-memory lease store as a layer.
   *
   * @category layers
   * @since 0.1.0
   */
  layerMemory,
  /**
   * A held lease (see `@strata/core/backend`'s `LeaseStore`).
   *
   * @category models
   * @since 0.1.0
   */
  type Lease,
  /**
   * Errors of a lease store operation.
   *
   * @category errors
   * @since 0.1.0
   */
  type LeaseError,
  /**
   * The lease store of the backend in use; every store layer provides one.
   *
   * @category services
   * @since 0.1.0
   */
  LeaseStore,
  /**
   * The storage a backend implements for leases.
   *
   * @category models
   * @since 0.1.0
   */
  type LeaseStoreShape,
  /**
   * A lease store in memory, with the real semantics.
   *
   * @category constructors
   * @since 0.1.0
   */
  makeMemory,
  /**
   * A lease store for a backend without one: every operation fails with `Unsupported`.
   *
   * @category constructors
   * @since 0.1.0
   */
  unsupported,
  /**
   * The checks every lease store applies to its inputs.
   *
   * @category constructors
   * @since 0.1.0
   */
  validate
} from "../backend/LeaseStore.ts"

/**
 * How a holder keeps a lease.
 *
 * @category models
 * @since 0.1.0
 */
export interface HoldingOptions {
  /**
   * How long the lease lives without renewal: the longest another instance waits to take over
   * after this one dies or loses its connection. Default 15 seconds.
   */
  readonly ttl?: Duration.Input | undefined
  /** How often the holder renews, and a standby tries to acquire. Default a third of the TTL. */
  readonly renewEvery?: Duration.Input | undefined
  /** Who holds it (logs, `list`). Default a random id per call. */
  readonly holder?: string | undefined
}

const settings = (options: HoldingOptions | undefined) => {
  const ttl = Duration.fromInputUnsafe(options?.ttl ?? "15 seconds")
  const every = options?.renewEvery === undefined
    ? Duration.millis(Math.max(1, Math.floor(Duration.toMillis(ttl) / 3)))
    : Duration.fromInputUnsafe(options.renewEvery)
  return { ttl, every, holder: options?.holder ?? crypto.randomUUID() }
}

/**
 * Checks {@link HoldingOptions}: a TTL of at least 1 ms and a renewal interval of at least 1 ms and
 * below the TTL (a holder that renews less often than its lease lives loses it between renewals).
 *
 * @category constructors
 * @since 0.1.0
 */
export const checkOptions = (operation: string, options: HoldingOptions | undefined) =>
  Effect.suspend(() => {
    const { every, ttl } = settings(options)
    const ttlMs = Duration.toMillis(ttl)
    const everyMs = Duration.toMillis(every)
    return Number.isFinite(ttlMs) && ttlMs >= 1 && everyMs >= 1 && everyMs < ttlMs
      ? Effect.void
      : Effect.fail(
        new InvalidArgument({
          operation,
          detail:
            `the lease TTL must be finite and at least 1 ms, and renewEvery at least 1 ms and below it (got ttl ${ttlMs} ms, renewEvery ${everyMs} ms)`
        })
      )
  })

/**
 * Runs `use` while `lease` (already acquired) stays held: renews it every `renewEvery`, and when a
 * renewal finds it taken, or no renewal has succeeded by shortly before its expiry, interrupts `use` and fails
 * with `LeaseLost`. Releases the lease when `use` ends. The building block of {@link holding} and of
 * consumer groups, which acquire without waiting.
 *
 * @category combinators
 * @since 0.1.0
 */
export const hold = <A, E, R>(
  store: LeaseStoreShape,
  lease: Lease,
  options: HoldingOptions | undefined,
  use: (lease: Lease) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | LeaseLost, R> => {
  const { every, ttl } = settings(options)
  return Effect.scoped(Effect.gen(function*() {
    let latest = lease
    yield* Effect.addFinalizer(() => Effect.ignore(store.release(latest)))
    const lost = yield* Deferred.make<never, LeaseLost>()
    const lostError = new LeaseLost({ name: lease.name, holder: lease.holder, token: lease.token })
    // The holder's own deadline: a margin before the expiry it last wrote, by this process's clock
    // (the store computed it from the same clock). The lease is expired at `expiresAt` itself, when
    // another holder may start, and interrupting the work takes a moment: the margin (a tenth of
    // the TTL, less when renewals come close to the TTL) makes the work stop before then.
    const ttlMs = Duration.toMillis(ttl)
    const margin = Math.max(1, Math.floor(Math.min(ttlMs / 10, (ttlMs - Duration.toMillis(every)) / 2)))
    let deadline = lease.expiresAt - margin
    const renewLoop = Effect.gen(function*() {
      let why = "no renewal before its deadline"
      for (;;) {
        const wait = Math.min(Duration.toMillis(every), deadline - (yield* Clock.currentTimeMillis))
        if (wait <= 0) break
        yield* Effect.sleep(Duration.millis(wait))
        const now = yield* Clock.currentTimeMillis
        if (now >= deadline) break
        // A renewal that hangs (a partitioned connection) must not outlive the deadline.
        const renewed = yield* Effect.result(
          Effect.timeoutOption(store.renew(latest, ttl), Duration.millis(deadline - now))
        )
        if (renewed._tag === "Success") {
          if (Option.isNone(renewed.success)) {
            why = `a renewal still running at its deadline (${deadline - now} ms)`
            break
          }
          if (Option.isNone(renewed.success.value)) {
            why = "taken or released"
            break
          }
          latest = renewed.success.value.value
          deadline = latest.expiresAt - margin
        } else {
          yield* Effect.logWarning(`lease ${lease.name}: renewal failed, retrying`, renewed.failure)
        }
      }
      yield* Effect.logWarning(`lease ${lease.name}: lost by ${lease.holder} (token ${lease.token}): ${why}`)
      yield* Deferred.fail(lost, lostError)
    })
    yield* Effect.forkScoped(renewLoop)
    return yield* Effect.raceFirst(use(latest), Deferred.await(lost))
  }))
}

/**
 * Acquires `name` for `holder`, standing by (trying every `renewEvery`) while another holder has it.
 *
 * @category combinators
 * @since 0.1.0
 */
export const acquireWaiting = (
  store: LeaseStoreShape,
  name: string,
  options?: HoldingOptions
): Effect.Effect<Lease, LeaseError> => {
  const { every, holder, ttl } = settings(options)
  return Effect.gen(function*() {
    yield* checkOptions("Lease.acquire", options)
    let logged = false
    for (;;) {
      const acquired = yield* store.acquire(name, holder, ttl)
      if (Option.isSome(acquired)) {
        yield* Effect.logInfo(`lease ${name}: acquired by ${holder} (token ${acquired.value.token})`)
        return acquired.value
      }
      if (!logged) yield* Effect.logInfo(`lease ${name}: held elsewhere, ${holder} stands by`)
      logged = true
      yield* Effect.sleep(every)
    }
  })
}

/**
 * Runs `use` while holding the lease `name`: stands by until it is acquired, renews it in the
 * background, interrupts `use` and fails with `LeaseLost` if the lease is lost, and releases it when
 * `use` ends (success, failure or interruption).
 *
 * @example
 * ```ts
 * import { Lease } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const once = Lease.holding("nightly-report", { ttl: "30 seconds" })(() => Effect.log("only here"))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const holding = (name: string, options?: HoldingOptions) =>
<A, E, R>(
  use: (lease: Lease) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | LeaseLost | LeaseError, R | LeaseStore> => {
  const resolved = { ...options, holder: settings(options).holder }
  return Effect.flatMap(
    LeaseStore,
    (store) => Effect.flatMap(acquireWaiting(store, name, resolved), (lease) => hold(store, lease, resolved, use))
  )
}

/**
 * {@link holding} forever: when the lease is lost, stand by and run `use` again once it is back.
 * For work that must run on exactly one replica at a time (a named consumer, a scheduler); fork it
 * with the program's scope. Fails only with `use`'s own errors or the store's.
 *
 * @category combinators
 * @since 0.1.0
 */
export const singleton = (name: string, options?: HoldingOptions) =>
<A, E, R>(
  use: (lease: Lease) => Effect.Effect<A, E, R>
): Effect.Effect<never, Exclude<E, LeaseLost> | LeaseError, R | LeaseStore> => {
  const resolved = { ...options, holder: settings(options).holder }
  const once = holding(name, resolved)(use).pipe(
    Effect.catchIf((error): error is LeaseLost => isLeaseLost(error), () => Effect.void)
  ) as Effect.Effect<unknown, Exclude<E, LeaseLost> | LeaseError, R | LeaseStore>
  return Effect.forever(once)
}

const isLeaseLost = (error: unknown): error is LeaseLost =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "LeaseLost"

/**
 * Wraps a checkpoint store so that every commit first checks (`fence`) that `lease` is still
 * current, inside the commit: with a transactional checkpoint store (SQL) the check, the handler's
 * writes and the checkpoint commit or roll back together, so after a takeover nothing of the former
 * holder's batch lands. With a non-transactional one the check narrows the window but the handler's
 * writes may already have happened (at-least-once). Store layers' own checkpoint stores fence
 * themselves (`CheckpointStore.fenced`); this is for a checkpoint store built by hand.
 *
 * @category combinators
 * @since 0.1.0
 */
export const fenced = (
  checkpoints: Checkpoints.CheckpointStore,
  store: LeaseStoreShape,
  lease: Lease
): Checkpoints.CheckpointStore => ({
  ...checkpoints,
  commit: (name, position, work) =>
    checkpoints.commit(name, position, Effect.tap(work, () => Checkpoints.fence(store, lease)))
})

/**
 * Provides the current `Consumer.Checkpoints`, fenced by `lease`, to `effect` (a `Consumer.run`
 * inside {@link holding} or {@link singleton}): the store's own fenced form
 * (`CheckpointStore.fenced`: in the commit's transaction, or its batch on D1), else {@link fenced}.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withFencing = (lease: Lease) =>
<A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, Checkpoints.Checkpoints> | LeaseStore | Checkpoints.Checkpoints> =>
  Effect.gen(function*() {
    const checkpoints = yield* Checkpoints.Checkpoints
    const fencedStore = checkpoints.fenced?.(lease) ?? fenced(checkpoints, yield* LeaseStore, lease)
    return yield* Effect.provideService(effect, Checkpoints.Checkpoints, fencedStore)
  })
