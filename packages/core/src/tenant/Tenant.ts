/**
 * Tenants: code written against the store services (`EventStore`, `DocumentStore`, consumers,
 * projections, aggregates) runs on one tenant's store by naming the tenant around it.
 *
 * - {@link with}: `Tenant.with("acme")(effect)` runs `effect` on acme's store (opened on first use
 *   by `TenantStores`, held open while the effect runs);
 * - {@link layer}: acme's store as a layer, held open for the layer's lifetime;
 * - {@link layerEach}: a layer (consumers, projections) run once per known tenant, started for
 *   tenants added later and stopped for tenants removed.
 *
 * Inside, {@link Current} is the tenant's id, and logs, spans and metrics carry the attribute
 * `strata.tenant` (so a consumer's lag, `strata_consumer_lag_events`, is reported per tenant).
 *
 * There is no default tenant, by construction: the store services exist only inside a tenant, so
 * code that uses them outside one does not type-check, and a program cannot write to the wrong
 * tenant by forgetting to name one. A hostile id (`../x`, `a;drop`, an empty string, uppercase) is
 * refused with `TenantError` (`Invalid`) before anything is opened.
 *
 * @example
 * ```ts
 * import { EventStore, MemoryStore, Tenant, TenantStores } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const append = Effect.gen(function*() {
 *   const events = yield* EventStore.EventStore
 *   return yield* events.append("order-1", [{ type: "Placed", data: {} }])
 * })
 *
 * const program = Effect.all([Tenant.with("acme")(append), Tenant.with("globex")(append)]).pipe(
 *   Effect.provide(TenantStores.layer(TenantStores.fromMap({ acme: MemoryStore.layer(), globex: MemoryStore.layer() })))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type { Services } from "../store/Store.ts"
import type { TenantError } from "./TenantError.ts"
import { TenantStores } from "./TenantStores.ts"

/**
 * The id of the tenant the code runs for (provided by {@link with} and {@link layer}).
 *
 * @category services
 * @since 0.1.0
 */
export class Current extends Context.Service<Current, string>()("@strata/core/tenant/Tenant/Current") {}

// The same record for the same outer record and tenant: metrics cache their series key by the
// identity of the attribute record, so a fresh copy per call would rebuild the key on every update.
const tagged = new WeakMap<object, Map<string, Readonly<Record<string, unknown>>>>()
const withTenant = <A extends Readonly<Record<string, unknown>>>(record: A, tenant: string): A => {
  let byTenant = tagged.get(record)
  if (byTenant === undefined) {
    byTenant = new Map()
    tagged.set(record, byTenant)
  }
  let result = byTenant.get(tenant)
  if (result === undefined) {
    result = { ...record, "strata.tenant": tenant }
    byTenant.set(tenant, result)
  }
  return result as A
}

// The tenant as an attribute of every log line, span and metric updated inside: `target` gets the
// references of `outer` with `strata.tenant` added.
const observed = <A>(outer: Context.Context<never>, target: Context.Context<A>, tenant: string): Context.Context<A> =>
  target.pipe(
    Context.add(
      References.CurrentLogAnnotations,
      withTenant(Context.get(outer, References.CurrentLogAnnotations), tenant)
    ),
    Context.add(
      References.TracerSpanAnnotations,
      withTenant(Context.get(outer, References.TracerSpanAnnotations), tenant)
    ),
    Context.add(Metric.CurrentMetricAttributes, withTenant(Context.get(outer, Metric.CurrentMetricAttributes), tenant))
  )

const with_ = (tenant: string) =>
<A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | TenantError, Exclude<R, Services | Current> | TenantStores> =>
  Effect.flatMap(TenantStores, (stores) =>
    stores.use(tenant, (store) =>
      Effect.updateContext(
        effect as Effect.Effect<A, E, Services | Current>,
        (outer: Context.Context<never>) =>
          observed(outer, Context.merge(outer, store), tenant).pipe(Context.add(Current, tenant))
      ))) as never

export {
  /**
   * Runs `effect` on the tenant's store: its `EventStore`, `DocumentStore` and every other store
   * service are the tenant's, {@link Current} is its id, and its logs, spans and metrics carry
   * `strata.tenant`. The store is opened if it is not open (once, however many fibers ask) and held
   * open until `effect` ends.
   *
   * Fails with `TenantError`: `Invalid` for an id that breaks the rule, `Unknown` when the resolver
   * knows no such tenant, `Unavailable` when its store cannot open, `Busy` when every open store is
   * held.
   *
   * **Gotchas**
   *
   * The hold ends with `effect`: work forked into an outer scope (a consumer started with
   * `Consumer.make` under the caller's scope) outlives it and may find the store closed when idle.
   * Run long-lived work with {@link layer} or {@link layerEach}.
   *
   * @example
   * ```ts
   * import { EventStore, Tenant } from "@strata/core"
   * import { Effect } from "effect"
   *
   * const placeOrder = (tenant: string) =>
   *   Tenant.with(tenant)(Effect.gen(function*() {
   *     const events = yield* EventStore.EventStore
   *     return yield* events.append("order-1", [{ type: "Placed", data: {} }])
   *   }))
   * ```
   *
   * @category combinators
   * @since 0.1.0
   */
  with_ as with
}

/**
 * The tenant's store as a layer: every store service, {@link Current}, and the `strata.tenant`
 * attribute on logs, spans and metrics of what is built on it. The store is held open for the
 * layer's lifetime. Fails to build with `TenantError` as {@link with} does.
 *
 * @example
 * ```ts
 * import { Consumer, Tenant } from "@strata/core"
 * import { Effect, Layer } from "effect"
 *
 * // acme's mailer, for the lifetime of the program
 * const AcmeMailer = Consumer.layer("mailer", { handler: () => Effect.void }).pipe(
 *   Layer.provide(Tenant.layer("acme"))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (tenant: string): Layer.Layer<Services | Current, TenantError, TenantStores> =>
  Layer.effectContext(Effect.gen(function*() {
    const stores = yield* TenantStores
    const store = yield* stores.acquire(tenant)
    const outer = yield* Effect.context<never>()
    // Only the references are taken from the outer context; the services are the store's.
    return observed(outer, store, tenant).pipe(Context.add(Current, tenant))
  }))

/**
 * How {@link layerEach} follows the resolver's tenants.
 *
 * @category models
 * @since 0.1.0
 */
export interface EachOptions {
  /** How often the resolver's tenants are listed again, to start and stop per-tenant layers (default 1 minute). */
  readonly refresh?: Duration.Input | undefined
}

/**
 * Runs `perTenant` (consumers, projections: anything built on the store services) once for every
 * tenant the resolver knows (`Resolver.tenants`), each on its tenant's store ({@link layer}), with
 * `strata.tenant` on its logs and metrics: each tenant's consumer lag is its own series. Every
 * `refresh` the tenants are listed again: new ones are started, removed ones stopped. A tenant whose
 * layer fails to build (its store is down) is logged and tried again at the next refresh; the
 * others run on.
 *
 * **Gotchas**
 *
 * Each running tenant holds its store open, so `maxOpen` (`TenantStores.layer`) must cover every
 * tenant that runs consumers, or the ones past it wait for a refresh with `Busy`.
 *
 * @example
 * ```ts
 * import { Consumer, Tenant } from "@strata/core"
 * import { Effect } from "effect"
 *
 * // the mailer, for every tenant
 * const Mailers = Tenant.layerEach(Consumer.layer("mailer", { handler: () => Effect.void }), { refresh: "30 seconds" })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerEach = <A, E, R>(
  perTenant: Layer.Layer<A, E, R>,
  options: EachOptions = {}
): Layer.Layer<never, never, TenantStores | Exclude<R, Services | Current>> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const stores = yield* TenantStores
    const context = yield* Effect.context<TenantStores | Exclude<R, Services | Current>>()
    const running = new Map<string, Scope.Closeable>()

    const start = (tenant: string) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const built = yield* Effect.exit(
          Layer.buildWithScope(Layer.provide(perTenant, layer(tenant)), scope).pipe(
            Effect.provideContext(context as Context.Context<TenantStores | Exclude<R, Services | Current>>)
          )
        )
        if (Exit.isSuccess(built)) {
          running.set(tenant, scope)
          yield* Effect.logDebug(`Strata: started the per-tenant layer for tenant ${tenant}`)
        } else {
          yield* Scope.close(scope, built)
          yield* Effect.logWarning(
            `Strata: the per-tenant layer of tenant ${tenant} failed to start; trying again at the next refresh`,
            built.cause
          )
        }
      }).pipe(Effect.annotateLogs({ "strata.tenant": tenant }))

    const stop = (tenant: string) =>
      Effect.suspend(() => {
        const scope = running.get(tenant)
        running.delete(tenant)
        return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
      })

    const refresh = Effect.gen(function*() {
      const listed = yield* Effect.exit(stores.tenants)
      if (Exit.isFailure(listed)) {
        return yield* Effect.logWarning("Strata: could not list tenants; keeping the running ones", listed.cause)
      }
      const known = new Set(listed.value)
      yield* Effect.forEach([...running.keys()].filter((tenant) => !known.has(tenant)), stop, { discard: true })
      yield* Effect.forEach([...known].filter((tenant) => !running.has(tenant)), start, {
        concurrency: 4,
        discard: true
      })
    })

    yield* Effect.addFinalizer(() => Effect.forEach([...running.keys()], stop, { discard: true }))
    yield* refresh
    yield* Effect.forkScoped(
      Effect.repeat(refresh, Schedule.spaced(Duration.fromInputUnsafe(options.refresh ?? "1 minute")))
    )
  }))
