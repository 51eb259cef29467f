/**
 * The storage behind leases: the {@link LeaseStore} service every backend implements (acquire / renew /
 * release a named lease for a TTL, with a fencing token that grows on every change of hands, and
 * `fence`, a check run inside the caller's atomic step), the checks every implementation applies, an
 * in-memory store with the real semantics, and the store of a backend that has none.
 *
 * The algorithm over it (holding, standing by, renewing, fencing checkpoints) is `Lease`, in
 * `@strata/core`; this module is what a backend author implements.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { InvalidArgument, LeaseLost, type StoreUnavailable, Unsupported } from "../StoreError.ts"

/**
 * A held lease: who holds `name`, with which fencing token, until when (epoch milliseconds, by the
 * clock of the process that acquired or renewed it).
 *
 * @category models
 * @since 0.1.0
 */
export interface Lease {
  readonly name: string
  readonly holder: string
  /** Grows every time the lease changes hands (or is taken again after expiry or release). */
  readonly token: bigint
  readonly expiresAt: number
}

/**
 * Errors of a lease store operation.
 *
 * @category errors
 * @since 0.1.0
 */
export type LeaseError = InvalidArgument | StoreUnavailable | Unsupported

/**
 * The storage a backend implements for leases.
 *
 * - `acquire(name, holder, ttl)`: takes the lease when it is free, expired, released, or already
 *   held by `holder` (then it is extended and keeps its token); `None` while another holder's lease
 *   is live. A change of hands writes a token larger than any before it for that name.
 * - `renew(lease, ttl)`: extends the lease while its token is current; `None` once another holder
 *   took it (or it was released).
 * - `release(lease)`: frees it for the next holder at once (a no-op if it is no longer ours).
 * - `fence(lease)`: fails with `LeaseLost` unless the token is still current and the lease was
 *   not released. Run inside a
 *   transaction it shares that transaction (SQL: a row lock, so a takeover waits for the commit).
 * - `list(prefix)`: the live (unexpired, unreleased) leases whose names start with `prefix`.
 * - `prune(prefix, olderThan)`: deletes the leases under `prefix` that were released, or expired
 *   more than `olderThan` ago, and returns how many. A pruned name taken again starts its tokens
 *   over, so prune only names that are never taken again (a consumer group's memberships, one
 *   random id per member process), never leases that fence anything.
 *
 * @category services
 * @since 0.1.0
 */
export interface LeaseStoreShape {
  readonly acquire: (
    name: string,
    holder: string,
    ttl: Duration.Duration
  ) => Effect.Effect<Option.Option<Lease>, LeaseError>
  readonly renew: (lease: Lease, ttl: Duration.Duration) => Effect.Effect<Option.Option<Lease>, LeaseError>
  readonly release: (lease: Lease) => Effect.Effect<void, LeaseError>
  readonly fence: (lease: Lease) => Effect.Effect<void, LeaseLost | LeaseError>
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<Lease>, LeaseError>
  readonly prune: (prefix: string, olderThan: Duration.Duration) => Effect.Effect<number, LeaseError>
}

/**
 * The lease store of the backend in use. `MemoryStore.layer()` and the SQL backends' layers provide it.
 *
 * @category services
 * @since 0.1.0
 */
export class LeaseStore extends Context.Service<LeaseStore, LeaseStoreShape>()("@strata/core/Lease/LeaseStore") {}

/**
 * The checks every lease store applies to its inputs: a non-empty name of at most 200 characters
 * and a TTL of at least one millisecond.
 *
 * @category constructors
 * @since 0.1.0
 */
export const validate = (operation: string, name: string, ttl?: Duration.Duration) => {
  if (typeof name !== "string" || name.length === 0 || name.length > 200) {
    return Effect.fail(
      new InvalidArgument({ operation, detail: "a lease name must be a string of 1 to 200 characters" })
    )
  }
  if (ttl !== undefined && Duration.toMillis(ttl) < 1) {
    return Effect.fail(new InvalidArgument({ operation, detail: "a lease TTL must be at least 1 millisecond" }))
  }
  return Effect.void
}

interface MemoryRow {
  holder: string
  token: bigint
  expiresAt: number
}

/**
 * A lease store in memory, with the real semantics (expiry by `Clock`, monotonic tokens): for one
 * process, tests, and the memory backend.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<LeaseStoreShape> = Effect.sync(() => {
  const rows = new Map<string, MemoryRow>()
  const toLease = (name: string, row: MemoryRow): Lease => ({ name, ...row })
  const current = (lease: Lease) => {
    const row = rows.get(lease.name)
    return row !== undefined && row.token === lease.token && row.holder === lease.holder ? row : undefined
  }
  return LeaseStore.of({
    acquire: Effect.fn("Lease.acquire")(function*(name, holder, ttl) {
      yield* validate("Lease.acquire", name, ttl)
      const now = yield* Clock.currentTimeMillis
      const row = rows.get(name)
      const expiresAt = now + Duration.toMillis(ttl)
      if (row === undefined) {
        const created = { holder, token: 1n, expiresAt }
        rows.set(name, created)
        return Option.some(toLease(name, created))
      }
      const live = row.expiresAt > now
      if (live && row.holder !== holder) return Option.none()
      row.token = live ? row.token : row.token + 1n
      row.holder = holder
      row.expiresAt = expiresAt
      return Option.some(toLease(name, row))
    }),
    renew: Effect.fn("Lease.renew")(function*(lease, ttl) {
      yield* validate("Lease.renew", lease.name, ttl)
      const row = current(lease)
      if (row === undefined || row.expiresAt === 0) return Option.none()
      row.expiresAt = (yield* Clock.currentTimeMillis) + Duration.toMillis(ttl)
      return Option.some(toLease(lease.name, row))
    }),
    release: Effect.fn("Lease.release")(function*(lease) {
      yield* validate("Lease.release", lease.name)
      const row = current(lease)
      if (row !== undefined) row.expiresAt = 0
    }),
    fence: Effect.fn("Lease.fence")(function*(lease) {
      yield* validate("Lease.fence", lease.name)
      const row = current(lease)
      if (row === undefined || row.expiresAt === 0) {
        return yield* new LeaseLost({ name: lease.name, holder: lease.holder, token: lease.token })
      }
    }),
    list: Effect.fn("Lease.list")(function*(prefix) {
      const now = yield* Clock.currentTimeMillis
      return Array.from(rows).filter(([name, row]) => name.startsWith(prefix) && row.expiresAt > now).map((
        [name, row]
      ) => toLease(name, row))
    }),
    prune: Effect.fn("Lease.prune")(function*(prefix, olderThan) {
      const before = (yield* Clock.currentTimeMillis) - Duration.toMillis(olderThan)
      let pruned = 0
      for (const [name, row] of rows) {
        if (name.startsWith(prefix) && row.expiresAt < before) {
          rows.delete(name)
          pruned++
        }
      }
      return pruned
    })
  })
})

/**
 * {@link makeMemory} as a layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<LeaseStore> = Layer.effect(LeaseStore, makeMemory)

/**
 * A lease store for a backend without one: every operation fails with `Unsupported`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unsupported = (backend: string, detail: string): LeaseStoreShape => {
  const fail = (operation: string) => Effect.fail(new Unsupported({ operation, backend, detail }))
  return LeaseStore.of({
    acquire: () => fail("Lease.acquire"),
    renew: () => fail("Lease.renew"),
    release: () => fail("Lease.release"),
    fence: () => fail("Lease.fence"),
    list: () => fail("Lease.list"),
    prune: () => fail("Lease.prune")
  })
}
