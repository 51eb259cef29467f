/**
 * Tenants (issue 26): ids checked before anything opens, a tenant's store opened once however many
 * fibers ask, the pool's bound and idle close, the tenant on logs and metrics, per-tenant consumers
 * that follow the resolver's tenants, and the hash that places tenants on servers.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Consumer,
  DocumentStore,
  Event,
  EventStore,
  MemoryStore,
  type Store,
  Tenant,
  TenantError,
  TenantStores
} from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** A resolver of memory stores that counts how often each tenant's store is built and closed. */
const counting = (options: { readonly tenants?: () => ReadonlyArray<string>; readonly fail?: () => boolean } = {}) => {
  const built = new Map<string, number>()
  const closed = new Map<string, number>()
  const stores = new Map<string, Layer.Layer<Store.Services>>()
  const resolver = TenantStores.make({
    store: (tenant) =>
      Effect.sync(() => {
        // One layer value per tenant, as a real resolver gives the same URL each time; the count
        // wrapper runs once per build.
        let store = stores.get(tenant)
        if (store === undefined) {
          store = MemoryStore.layer()
          stores.set(tenant, store)
        }
        return Layer.effectDiscard(Effect.gen(function*() {
          if (options.fail?.() === true) return yield* Effect.fail(new Error(`${tenant} is down`))
          built.set(tenant, (built.get(tenant) ?? 0) + 1)
          yield* Effect.addFinalizer(() => Effect.sync(() => closed.set(tenant, (closed.get(tenant) ?? 0) + 1)))
        })).pipe(Layer.provideMerge(MemoryStore.layer()))
      }),
    tenants: Effect.sync(() => options.tenants?.() ?? [])
  })
  return { built, closed, resolver }
}

const append = (stream: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.append(stream, [Event.make("Happened", {})]))

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), "expected a failure")
    return Option.getOrThrow(Exit.findErrorOption(exit as Exit.Exit<A, E>)) as E
  })

describe("Tenant", () => {
  it.effect("refuses hostile tenant ids with TenantError (Invalid) before the resolver is asked", () =>
    Effect.gen(function*() {
      const { built, resolver } = counting()
      const hostile = [
        "",
        "../etc",
        "a/b",
        "Acme",
        "acme ",
        "a;drop database x",
        "a\u0000b",
        "a'b",
        "a\"b",
        "{tenant}",
        "-leading",
        "é",
        "x".repeat(49),
        "a\nb"
      ]
      for (const tenant of hostile) {
        const error = yield* failure(
          Tenant.with(tenant)(append("s-1")).pipe(Effect.provide(TenantStores.layer(resolver)))
        )
        assert.instanceOf(error, TenantError.TenantError)
        assert.strictEqual((error as TenantError.TenantError).reason, "Invalid", JSON.stringify(tenant))
        assert.include((error as TenantError.TenantError).message, TenantError.rule)
        assert.notInclude((error as TenantError.TenantError).message, "\n")
      }
      assert.strictEqual(built.size, 0)
      // The longest and the shortest valid ids pass.
      for (const tenant of ["a", "x".repeat(48), "acme-eu_2"]) assert.isTrue(TenantError.isTenantId(tenant), tenant)
    }))

  it.effect("opens a tenant's store once for 20 concurrent first calls, and reuses it", () =>
    Effect.gen(function*() {
      const { built, resolver } = counting()
      yield* Effect.gen(function*() {
        const results = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Tenant.with("acme")(append(`s-${i}`)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.length, 20)
        assert.strictEqual(built.get("acme"), 1)
        // The same store: all 20 appends are in one log.
        const count = yield* Tenant.with("acme")(
          Effect.flatMap(EventStore.EventStore, (store) => Stream.runCount(store.readAll()))
        )
        assert.strictEqual(count, 20)
        assert.strictEqual(built.get("acme"), 1)
      }).pipe(Effect.provide(TenantStores.layer(resolver)))
    }))

  it.effect("an unknown tenant fails with Unknown; a store that cannot open with Unavailable, and is tried again", () =>
    Effect.gen(function*() {
      const unknown = yield* failure(
        Tenant.with("initech")(append("s")).pipe(
          Effect.provide(TenantStores.layer(TenantStores.fromMap({ acme: MemoryStore.layer() })))
        )
      )
      assert.strictEqual((unknown as TenantError.TenantError).reason, "Unknown")

      let down = true
      const { built, resolver } = counting({ fail: () => down })
      yield* Effect.gen(function*() {
        const unavailable = yield* failure(Tenant.with("acme")(append("s")))
        assert.strictEqual((unavailable as TenantError.TenantError).reason, "Unavailable")
        assert.isTrue((unavailable as TenantError.TenantError).isRetryable)
        assert.include((unavailable as TenantError.TenantError).message, "acme is down")
        down = false
        yield* Tenant.with("acme")(append("s"))
        assert.strictEqual(built.get("acme"), 1)
      }).pipe(Effect.provide(TenantStores.layer(resolver)))
    }))

  it.live(
    "at maxOpen, opening another store closes the least recently used idle one; all held: Busy",
    () =>
      Effect.gen(function*() {
        const { built, closed, resolver } = counting()
        yield* Effect.gen(function*() {
          const stores = yield* TenantStores.TenantStores
          yield* Tenant.with("a")(append("s"))
          yield* Tenant.with("b")(append("s"))
          yield* Tenant.with("a")(append("s")) // b is now the least recently used
          yield* Tenant.with("c")(append("s"))
          yield* Effect.yieldNow
          assert.deepStrictEqual([...(yield* stores.open)].sort(), ["a", "c"])
          assert.strictEqual(closed.get("b"), 1)

          // Hold both open stores; a third tenant cannot open.
          const release = yield* Deferred.make<void>()
          const holders = yield* Effect.forkChild(
            Effect.all([
              Tenant.with("a")(Deferred.await(release)),
              Tenant.with("c")(Deferred.await(release))
            ], { concurrency: "unbounded" })
          )
          yield* Effect.sleep("50 millis")
          const busy = yield* failure(Tenant.with("d")(append("s")))
          assert.strictEqual((busy as TenantError.TenantError).reason, "Busy")
          assert.isUndefined(built.get("d"))
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(holders)
          yield* Tenant.with("d")(append("s"))
          assert.strictEqual(built.get("d"), 1)
          // b again: reopened (a memory store's events died with it; SQL stores keep theirs).
          yield* Tenant.with("b")(append("s"))
          assert.strictEqual(built.get("b"), 2)
        }).pipe(Effect.provide(TenantStores.layer(resolver, { maxOpen: 2 })))
      }),
    { timeout: 20_000 }
  )

  it.live("closes a store idle for idleTimeout, never one in use, and reopens it on the next call", () =>
    Effect.gen(function*() {
      const { built, closed, resolver } = counting()
      yield* Effect.gen(function*() {
        const stores = yield* TenantStores.TenantStores
        yield* Tenant.with("acme")(append("s"))
        // Held longer than the idle timeout: not closed.
        yield* Tenant.with("globex")(Effect.sleep("400 millis"))
        assert.strictEqual(closed.get("globex"), undefined)
        assert.strictEqual(closed.get("acme"), 1)
        yield* Effect.sleep("400 millis")
        assert.strictEqual(closed.get("globex"), 1)
        assert.deepStrictEqual(yield* stores.open, [])
        yield* Tenant.with("acme")(append("s"))
        assert.strictEqual(built.get("acme"), 2)
      }).pipe(Effect.provide(TenantStores.layer(resolver, { idleTimeout: "150 millis" })))
      // Closing the layer closes every open store.
      assert.strictEqual(closed.get("acme"), 2)
    }))

  it.effect("inside a tenant: Tenant.Current is its id, and logs and metrics carry strata.tenant", () =>
    Effect.gen(function*() {
      const lines: Array<Record<string, unknown>> = []
      const logger = Logger.make<unknown, void>(({ fiber }) => {
        lines.push({ ...fiber.getRef(References.CurrentLogAnnotations) })
      })
      const counter = Metric.counter(`tenant_test_${Math.random().toString(16).slice(2)}`, { incremental: true })
      const id = yield* Tenant.with("acme")(
        Effect.gen(function*() {
          yield* Effect.logInfo("inside")
          yield* Metric.update(counter, 1)
          return yield* Tenant.Current
        })
      ).pipe(Effect.provide(Logger.layer([logger])))
      assert.strictEqual(id, "acme")
      assert.deepStrictEqual(lines.at(-1), { "strata.tenant": "acme" })
      const series = (yield* Metric.snapshot).filter((snapshot) => snapshot.id === counter.id)
      assert.deepStrictEqual(series.map((snapshot) => snapshot.attributes), [{ "strata.tenant": "acme" }])
    }).pipe(Effect.provide(TenantStores.layer(counting().resolver))))
})

const Count = DocumentStore.collection("counts", Schema.Struct({ events: Schema.Int }))

describe("Tenant.layerEach", () => {
  it.live(
    "runs a consumer for each known tenant, starts one for a tenant added later and stops one removed, with lag per tenant",
    () =>
      Effect.gen(function*() {
        const known = ["acme", "globex"]
        const { resolver } = counting({ tenants: () => known })
        // Counts its tenant's events into its tenant's documents.
        const Counter = Consumer.layer("counter", {
          handler: () =>
            DocumentStore.update(Count, "all", (current) => ({ events: (current?.events ?? 0) + 1 })).pipe(
              Effect.asVoid
            ),
          monitorInterval: "50 millis"
        })
        const countOf = (tenant: string) =>
          Tenant.with(tenant)(
            Effect.flatMap(DocumentStore.DocumentStore, (docs) =>
              Effect.map(
                docs.get(Count, "all"),
                Option.match({ onNone: () => 0, onSome: (doc) => doc.value.events })
              ))
          )
        const until = (tenant: string, events: number) =>
          Effect.repeat(countOf(tenant), { until: (count) => count >= events, schedule: Schedule.spaced("20 millis") })
            .pipe(Effect.timeout("10 seconds"))

        yield* Effect.gen(function*() {
          yield* Tenant.with("acme")(Effect.all([append("a-1"), append("a-2"), append("a-3")]))
          yield* Tenant.with("globex")(append("g-1"))
          yield* until("acme", 3)
          yield* until("globex", 1)
          assert.strictEqual(yield* countOf("acme"), 3)
          assert.strictEqual(yield* countOf("globex"), 1)

          // A tenant added at runtime: no restart, its consumer starts at the next refresh.
          yield* Tenant.with("initech")(Effect.all([append("i-1"), append("i-2")]))
          known.push("initech")
          yield* until("initech", 2)

          // The lag gauge is a series per tenant.
          yield* Effect.sleep("150 millis")
          const tenants = (yield* Metric.snapshot)
            .filter((snapshot) =>
              snapshot.id === Consumer.lagEvents.id && snapshot.attributes?.["consumer"] === "counter"
            )
            .map((snapshot) => snapshot.attributes?.["strata.tenant"])
          for (const tenant of ["acme", "globex", "initech"]) assert.include(tenants, tenant)

          // A tenant removed from the resolver: its consumer stops at the next refresh.
          known.splice(known.indexOf("globex"), 1)
          yield* Effect.sleep("300 millis")
          yield* Tenant.with("globex")(append("g-2"))
          yield* Tenant.with("acme")(append("a-4"))
          yield* until("acme", 4)
          yield* Effect.sleep("300 millis")
          assert.strictEqual(yield* countOf("globex"), 1)
        }).pipe(
          Effect.provide(
            Tenant.layerEach(Counter, { refresh: "100 millis" }).pipe(
              Layer.provideMerge(TenantStores.layer(resolver))
            )
          )
        )
      }),
    { timeout: 30_000 }
  )
})

describe("TenantStores.place", () => {
  it("places a tenant on the same member every time, spreads tenants, and moves about 1/n when a member is added", () => {
    const tenants = Array.from({ length: 4000 }, (_, i) => `tenant-${i}`)
    const four = ["pg-1", "pg-2", "pg-3", "pg-4"]
    const placed = tenants.map((tenant) => TenantStores.place(tenant, four))
    assert.deepStrictEqual(placed, tenants.map((tenant) => TenantStores.place(tenant, four)))
    for (let member = 0; member < 4; member++) {
      const share = placed.filter((p) => p === member).length / tenants.length
      assert.isTrue(share > 0.2 && share < 0.3, `member ${member} has ${share}`)
    }
    // Members whose keys differ in one character (ports of one host) split tenants evenly too.
    const ports = ["127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003", "127.0.0.1:40004"]
    for (let member = 0; member < 4; member++) {
      const share = tenants.filter((tenant) => TenantStores.place(tenant, ports) === member).length / tenants.length
      assert.isTrue(share > 0.2 && share < 0.3, `port member ${member} has ${share}`)
    }
    const five = [...four, "pg-5"]
    const moved = tenants.filter((tenant, i) => four[placed[i]!] !== five[TenantStores.place(tenant, five)]!)
    // Every moved tenant moved to the new member, and about a fifth moved.
    for (const tenant of moved) assert.strictEqual(TenantStores.place(tenant, five), 4)
    assert.isTrue(moved.length / tenants.length > 0.15 && moved.length / tenants.length < 0.25)
  })
})
