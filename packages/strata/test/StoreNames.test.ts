/**
 * Names from callers fail typed, never throw: a store name known at run time goes through
 * `NamedStore.fromString` (`StoreNameError` naming the rule), a literal that breaks the rule does
 * not compile (the `@ts-expect-error` lines fail the type check if it ever does); tenant ids and
 * tenant resolvers from configuration (an empty or duplicated pool, a map key that is no tenant id)
 * fail with `TenantError` instead of throwing at declaration.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventStore, MemoryStore, NamedStore, Store, Tenant, TenantError, TenantStores } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

describe("store names", () => {
  it.effect("a run-time name: the store, or StoreNameError naming the rule", () =>
    Effect.gen(function*() {
      const Orders = yield* NamedStore.fromString("orders.v2")
      const store = yield* Effect.provide(
        Effect.gen(function*() {
          return yield* Orders.EventStore
        }),
        Orders.layer(MemoryStore.layer())
      )
      const written = yield* store.append("order-1", [{ type: "Placed", data: {} }])
      assert.strictEqual(written.nextExpectedVersion, 0n)
      for (const name of ["bad name", "", "-x", "a/b", "x".repeat(64), "é", "a\nb"]) {
        const error = yield* Effect.flip(NamedStore.fromString(name))
        assert.strictEqual(error._tag, "StoreNameError")
        assert.strictEqual(error.rule, NamedStore.rule)
        assert.include(error.message, "is not a store name: a store name is 1 to 63 letters")
        assert.isFalse(error.isRetryable)
        assert.notInclude(error.message, "\n", "a hostile name cannot forge a log line")
      }
      // The longest name the rule allows is a store.
      yield* NamedStore.fromString("x".repeat(63))
      assert.isTrue(NamedStore.isStoreName("a.b-c_d"))
      assert.isFalse(NamedStore.isStoreName("a b"))
    }))

  it("literal names are checked when the program compiles", () => {
    const Ok = Store.tag("orders-1.v2_x")
    assert.strictEqual(Ok.name, "orders-1.v2_x")
    assert.strictEqual(
      NamedStore.make("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").name.length,
      63
    )
    // @ts-expect-error a space breaks the rule
    assert.throws(() => Store.tag("bad name"), /use NamedStore.fromString/)
    // @ts-expect-error a name starts with a letter or digit
    assert.throws(() => NamedStore.make("-orders"))
    // @ts-expect-error 64 characters is one too many
    assert.throws(() => NamedStore.make("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
    // @ts-expect-error the empty name
    assert.throws(() => NamedStore.make(""))
    const fromConfig: string = "orders"
    // @ts-expect-error a string known only at run time goes through fromString
    assert.strictEqual(NamedStore.make(fromConfig).name, "orders")
  })
})

describe("tenant ids and resolvers", () => {
  const run = <A, E>(effect: Effect.Effect<A, E, TenantStores.TenantStores>, resolver: TenantStores.Resolver) =>
    Effect.exit(Effect.provide(effect, TenantStores.layer(resolver)))
  const append = Effect.flatMap(EventStore.EventStore, (store) => store.append("s-1", [{ type: "E", data: {} }]))

  it.effect("a hostile tenant id fails with TenantError (Invalid) before the resolver is asked", () =>
    Effect.gen(function*() {
      let asked = 0
      const resolver = TenantStores.make({ store: () => Effect.sync(() => (asked++, MemoryStore.layer())) })
      for (const id of ["../etc", "Acme", "", "a;drop", "x".repeat(49)]) {
        const exit = yield* run(Tenant.with(id)(append), resolver)
        assert.isTrue(Exit.isFailure(exit))
        const error = yield* Effect.flip(Exit.isFailure(exit) ? Effect.failCause(exit.cause) : Effect.void)
        assert.strictEqual((error as TenantError.TenantError).reason, "Invalid")
        assert.include((error as TenantError.TenantError).detail, TenantError.rule)
      }
      assert.strictEqual(asked, 0)
    }))

  it.effect("a pool from configuration with no member, or a member twice, fails typed (Misconfigured)", () =>
    Effect.gen(function*() {
      for (
        const [members, detail] of [
          [[], /no members/],
          [[{ key: "pg-1" }, { key: "pg-1" }], /two members of the hashed pool have one key/]
        ] as const
      ) {
        const resolver = TenantStores.hashed(members, () => MemoryStore.layer())
        const exit = yield* run(Tenant.with("acme")(append), resolver)
        const error = Exit.isFailure(exit)
          ? (exit.cause.reasons[0] as { error?: TenantError.TenantError }).error
          : undefined
        assert.strictEqual(error?.reason, "Misconfigured")
        assert.match(error?.detail ?? "", detail)
        assert.isFalse(error?.isRetryable)
        const listed = yield* Effect.flip(resolver.tenants)
        assert.strictEqual(listed.reason, "Misconfigured")
      }
    }))

  it.effect("a map key that is not a tenant id: the map's tenants fail typed, naming it", () =>
    Effect.gen(function*() {
      const resolver = TenantStores.fromMap({ acme: MemoryStore.layer(), "Not A Tenant": MemoryStore.layer() })
      const error = yield* Effect.flip(resolver.tenants)
      assert.strictEqual(error.reason, "Misconfigured")
      assert.strictEqual(error.tenant, "\"Not A Tenant\"")
      assert.include(error.detail, TenantError.rule)
      // The valid tenants still work.
      const exit = yield* run(Tenant.with("acme")(append), resolver)
      assert.isTrue(Exit.isSuccess(exit))
    }))
})
