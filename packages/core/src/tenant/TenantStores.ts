/**
 * The stores of many tenants, each a complete store of its own (a SQLite file, a PostgreSQL
 * database, a memory store), opened when a tenant is first used and closed when it has been idle.
 *
 * A {@link Resolver} says where a tenant's store is: a static map ({@link fromMap}), a hash over a
 * pool of servers ({@link hashed}), or your own Effect ({@link make}: a tenants table, a config
 * service). {@link layer} pools the stores it opens:
 * - lazily: a tenant's store is built on first use, once, however many fibers ask at the same time
 *   (so its migrations run once, and a tenant added at runtime needs no restart);
 * - bounded: at most `maxOpen` stores are open; opening another closes the least recently used idle
 *   one, and fails with `TenantError` (`Busy`) when every open store is in use;
 * - closed when idle: a store nobody has held for `idleTimeout` is closed (its connections too).
 *
 * Programs do not call this service directly: `Tenant.with(id)` and `Tenant.layer(id)` run code on
 * a tenant's store. Tenants share nothing: not events, documents, checkpoints, leases nor live
 * wake-ups, and there is no order across tenants (`$all` is per tenant).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type { Services } from "../store/Store.ts"
import { isTenantId, quoted, rule, TenantError, validate } from "./TenantError.ts"

/**
 * Where tenants' stores are (see the module documentation). `store` may be called again for a
 * tenant whose store was closed when idle, so it must give the same store each time.
 *
 * @category models
 * @since 0.1.0
 */
export interface Resolver<R = never> {
  /** The tenant's store layer; `TenantError` (`Unknown`) for a tenant it does not know. */
  readonly store: (tenant: string) => Effect.Effect<Layer.Layer<Services, unknown>, TenantError, R>
  /** The tenants it knows now: per-tenant consumers (`Tenant.layerEach`) run for each. */
  readonly tenants: Effect.Effect<ReadonlyArray<string>, TenantError, R>
}

/**
 * A resolver from your own Effects: `store` gets a valid tenant id (checked before it is called);
 * `tenants` defaults to none known (then `Tenant.layerEach` runs nothing).
 *
 * @example
 * ```ts
 * import { MemoryStore, TenantStores } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const resolver = TenantStores.make({
 *   store: (tenant) => Effect.succeed(MemoryStore.layer()),
 *   tenants: Effect.succeed(["acme", "globex"])
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <R = never>(options: {
  readonly store: (tenant: string) => Effect.Effect<Layer.Layer<Services, unknown>, TenantError, R>
  readonly tenants?: Effect.Effect<ReadonlyArray<string>, TenantError, R> | undefined
}): Resolver<R> => ({ store: options.store, tenants: options.tenants ?? Effect.succeed([]) })

/**
 * A static map from tenant id to its store layer; every key is a known tenant. A key that is not a
 * tenant id (a typo in configuration) makes `tenants` fail with `TenantError` (`Misconfigured`)
 * naming it, so `Tenant.layerEach` reports it instead of skipping a tenant silently.
 *
 * @example
 * ```ts
 * import { MemoryStore, TenantStores } from "@strata/core"
 *
 * const resolver = TenantStores.fromMap({ acme: MemoryStore.layer(), globex: MemoryStore.layer() })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromMap = (stores: Readonly<Record<string, Layer.Layer<Services, unknown>>>): Resolver => ({
  store: (tenant) =>
    Object.hasOwn(stores, tenant)
      ? Effect.succeed(stores[tenant]!)
      : Effect.fail(
        new TenantError({
          reason: "Unknown",
          tenant,
          detail: "no store is configured for this tenant: add it to the resolver's map"
        })
      ),
  tenants: knownIds(Object.keys(stores), "the resolver's map")
})

/**
 * A list of tenant ids as a resolver's `tenants`: the list, or `TenantError` (`Misconfigured`)
 * naming the first id that breaks the rule (a typo in configuration would otherwise be a tenant
 * that can never be opened).
 *
 * @category constructors
 * @since 0.1.0
 */
export const knownIds = (
  ids: ReadonlyArray<string>,
  where: string
): Effect.Effect<ReadonlyArray<string>, TenantError> => {
  const bad = ids.find((id) => !isTenantId(id))
  return bad === undefined
    ? Effect.succeed(ids)
    : Effect.fail(
      new TenantError({
        reason: "Misconfigured",
        tenant: quoted(bad),
        detail: `${where} lists it, but ${rule}`
      })
    )
}

// FNV-1a, 32 bits, then murmur3's finalizer: stable across processes and versions (a tenant's
// server must never change when the program restarts), and well mixed, so keys that differ in one
// character (two ports of one host) still split tenants evenly.
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The pool member a tenant is placed on: rendezvous (highest random weight) hashing over the
 * members' keys, so adding a member moves only the tenants that now score highest on it (about
 * 1/n of them) and removing one moves only its own.
 *
 * @category hashing
 * @since 0.1.0
 */
export const place = (tenant: string, members: ReadonlyArray<string>): number => {
  let best = 0
  let bestScore = -1
  for (let i = 0; i < members.length; i++) {
    const score = hash(`${members[i]}\u0000${tenant}`)
    if (score > bestScore) {
      best = i
      bestScore = score
    }
  }
  return best
}

/**
 * Tenants hashed over a pool of servers (Marten's "sharded tenancy"): each tenant is placed on one
 * member by {@link place} over the members' `key`s, and `open` gives its store there (a database
 * per tenant on that server, say). Every tenant id is accepted: `tenants` lists the known ones. A
 * pool without members, or with two members of one key, fails every call with `TenantError`
 * (`Misconfigured`).
 *
 * **Gotchas**
 *
 * A tenant's data lives where it was placed. Adding a member moves about 1/n of the tenants to it,
 * and their stores there start empty: pin existing tenants (a {@link make} resolver that looks up a
 * table first) before growing the pool.
 *
 * @example
 * ```ts
 * import { MemoryStore, TenantStores } from "@strata/core"
 *
 * const servers = [{ key: "pg-1" }, { key: "pg-2" }]
 * const resolver = TenantStores.hashed(servers, (server, tenant) => MemoryStore.layer())
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const hashed = <A extends { readonly key: string }, R = never>(
  members: ReadonlyArray<A>,
  open: (member: A, tenant: string) => Layer.Layer<Services, unknown>,
  tenants?: Effect.Effect<ReadonlyArray<string>, TenantError, R>
): Resolver<R> => {
  const keys = members.map((member) => member.key)
  // A pool from configuration may be empty or list a server twice: every call fails typed, saying so.
  if (keys.length === 0 || new Set(keys).size !== keys.length) {
    const misconfigured = (tenant: string) =>
      Effect.fail(
        new TenantError({
          reason: "Misconfigured",
          tenant,
          detail: keys.length === 0
            ? "the hashed pool has no members: give it at least one server"
            : "two members of the hashed pool have one key: give each server once"
        })
      )
    return make({ store: misconfigured, tenants: misconfigured("*") })
  }
  return make({ store: (tenant) => Effect.sync(() => open(members[place(tenant, keys)]!, tenant)), tenants })
}

/**
 * How the pool of open stores behaves (see {@link layer}).
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The most stores open at once (default 100). */
  readonly maxOpen?: number | undefined
  /** How long a store nobody holds stays open (default 5 minutes). */
  readonly idleTimeout?: Duration.Input | undefined
}

/**
 * The tenants' stores (see the module documentation). `Tenant.with` and `Tenant.layer` use it.
 *
 * @category models
 * @since 0.1.0
 */
export interface TenantStoresShape {
  /**
   * The tenant's store (opened now if it is not open), held open until the scope closes: idle close
   * and eviction skip a held store.
   */
  readonly acquire: (tenant: string) => Effect.Effect<Context.Context<Services>, TenantError, Scope.Scope>
  /** Runs `f` with the tenant's store (opened now if it is not open), held open until `f` ends. */
  readonly use: <A, E, R>(
    tenant: string,
    f: (store: Context.Context<Services>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | TenantError, R>
  /** The tenants the resolver knows now. */
  readonly tenants: Effect.Effect<ReadonlyArray<string>, TenantError>
  /** The tenants whose stores are open now, least recently used first. */
  readonly open: Effect.Effect<ReadonlyArray<string>>
}

/**
 * The tenants' stores, pooled (see the module documentation).
 *
 * @category services
 * @since 0.1.0
 */
export class TenantStores extends Context.Service<TenantStores, TenantStoresShape>()(
  "@strata/core/tenant/TenantStores"
) {}

/**
 * Stores open now, across tenants.
 *
 * @category metrics
 * @since 0.1.0
 */
export const storesOpen: Metric.Gauge<number> = Metric.gauge("strata_tenant_stores_open", {
  description: "Tenant stores open now"
})

/**
 * Tenant stores opened (a reopen after an idle close counts again).
 *
 * @category metrics
 * @since 0.1.0
 */
export const storesOpenedTotal: Metric.Counter<number> = Metric.counter("strata_tenant_stores_opened_total", {
  description: "Tenant stores opened",
  incremental: true
})

interface Entry {
  readonly tenant: string
  readonly scope: Scope.Closeable
  readonly ready: Deferred.Deferred<Context.Context<Services>, TenantError>
  holders: number
  lastUsed: number
}

/**
 * The pool of tenants' stores over a resolver (see the module documentation). Closing the layer
 * closes every open store.
 *
 * @example
 * ```ts
 * import { MemoryStore, Tenant, TenantStores } from "@strata/core"
 *
 * const TenantsLive = TenantStores.layer(
 *   TenantStores.fromMap({ acme: MemoryStore.layer(), globex: MemoryStore.layer() }),
 *   { maxOpen: 50, idleTimeout: "10 minutes" }
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(resolver: Resolver<R>, options: Options = {}): Layer.Layer<TenantStores, never, R> =>
  Layer.effect(TenantStores, make_(resolver, options))

const make_ = <R>(resolver: Resolver<R>, options: Options) =>
  Effect.gen(function*() {
    const maxOpen = Math.max(1, Math.floor(options.maxOpen ?? 100))
    const idleMillis = Duration.toMillis(Duration.fromInputUnsafe(options.idleTimeout ?? "5 minutes"))
    const context = yield* Effect.context<R>()
    const poolScope = yield* Effect.scope
    // Insertion order is recency: a use moves its entry to the end, so the first idle entry is the
    // least recently used one. Every change to it happens in one synchronous step.
    const entries = new Map<string, Entry>()

    const close = (entry: Entry) =>
      Scope.close(entry.scope, Exit.void).pipe(
        Effect.andThen(Metric.update(storesOpen, entries.size)),
        Effect.andThen(Effect.logDebug(`Strata: closed the store of tenant ${entry.tenant}`)),
        Effect.annotateLogs({ "strata.tenant": entry.tenant })
      )

    const opened = (tenant: string, entry: Entry) =>
      resolver.store(tenant).pipe(
        Effect.flatMap((store) =>
          Effect.mapError(
            Layer.buildWithScope(store, entry.scope),
            (cause) =>
              new TenantError({
                reason: "Unavailable",
                tenant,
                detail: `its store could not be opened: ${cause instanceof Error ? cause.message : String(cause)}`,
                cause
              })
          )
        ),
        Effect.provideContext(context),
        Effect.tap(() =>
          Effect.all([Metric.update(storesOpenedTotal, 1), Metric.update(storesOpen, entries.size)], { discard: true })
        ),
        Effect.withSpan("strata.tenant.open", { attributes: { "strata.tenant": tenant } }),
        Effect.annotateLogs({ "strata.tenant": tenant })
      )

    const release = (entry: Entry) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          entry.holders--
          entry.lastUsed = now
        }))

    // Claims an entry in one synchronous step: the existing one, or a new one (evicting the least
    // recently used idle entry when the pool is full), or Busy.
    const claim = (tenant: string, now: number) =>
      Effect.suspend(() => {
        const existing = entries.get(tenant)
        if (existing !== undefined) {
          existing.holders++
          existing.lastUsed = now
          entries.delete(tenant)
          entries.set(tenant, existing)
          return Effect.succeed({ entry: existing, fresh: false, evicted: undefined })
        }
        let evicted: Entry | undefined
        if (entries.size >= maxOpen) {
          for (const candidate of entries.values()) {
            if (candidate.holders === 0 && Deferred.isDoneUnsafe(candidate.ready)) {
              evicted = candidate
              break
            }
          }
          if (evicted === undefined) {
            return Effect.fail(
              new TenantError({
                reason: "Busy",
                tenant,
                detail: `all ${maxOpen} open tenant stores are in use (maxOpen): retry later or raise maxOpen`
              })
            )
          }
          entries.delete(evicted.tenant)
        }
        const entry: Entry = {
          tenant,
          scope: Scope.makeUnsafe(),
          ready: Deferred.makeUnsafe<Context.Context<Services>, TenantError>(),
          holders: 1,
          lastUsed: now
        }
        entries.set(tenant, entry)
        return Effect.succeed({ entry, fresh: true, evicted })
      })

    // Claims the tenant's entry (opening its store in the background when it is new); the caller
    // must `release` it. Uninterruptible, so a claim is never left without its release.
    const claimed = (tenant: string) =>
      Effect.gen(function*() {
        yield* validate(tenant)
        const now = yield* Clock.currentTimeMillis
        const { entry, evicted, fresh } = yield* claim(tenant, now)
        if (evicted !== undefined) yield* Effect.forkIn(close(evicted), poolScope)
        if (fresh) {
          // Opened in the pool's scope, not the caller's: an interrupted caller does not leave the
          // other fibers waiting for this store with an open that never finishes.
          yield* Effect.forkIn(
            Effect.exit(opened(tenant, entry)).pipe(
              Effect.flatMap((exit) => {
                if (Exit.isSuccess(exit)) return Deferred.done(entry.ready, exit)
                // A failed open is forgotten, so the next call tries again.
                return Effect.sync(() => {
                  if (entries.get(tenant) === entry) entries.delete(tenant)
                }).pipe(
                  Effect.andThen(Scope.close(entry.scope, exit)),
                  Effect.andThen(Deferred.done(entry.ready, exit))
                )
              })
            ),
            poolScope
          )
        }
        return entry
      })

    const acquire = (tenant: string) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          Effect.tap(claimed(tenant), (entry) => Effect.addFinalizer(() => release(entry))),
          (entry) => restore(Deferred.await(entry.ready))
        )
      )

    // `acquire` without a Scope: the per-call path of `Tenant.with`.
    const use = <A, E, R>(tenant: string, f: (store: Context.Context<Services>) => Effect.Effect<A, E, R>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          claimed(tenant),
          (entry) => restore(Effect.flatMap(Deferred.await(entry.ready), f)).pipe(Effect.ensuring(release(entry)))
        )
      )

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const idle = [...entries.values()].filter((entry) =>
        entry.holders === 0 && now - entry.lastUsed >= idleMillis && Deferred.isDoneUnsafe(entry.ready)
      )
      for (const entry of idle) entries.delete(entry.tenant)
      yield* Effect.forEach(idle, close, { discard: true })
    })
    yield* Effect.forkScoped(
      Effect.repeat(sweep, Schedule.spaced(Duration.millis(Math.max(10, Math.min(idleMillis / 2, 30_000)))))
    )
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const all = [...entries.values()]
        entries.clear()
        return Effect.forEach(all, close, { discard: true })
      })
    )

    return TenantStores.of({
      acquire,
      use,
      tenants: Effect.provideContext(resolver.tenants, context),
      open: Effect.sync(() => [...entries.keys()])
    })
  })
