// Leases are not built on KurrentDB: every operation fails with a typed Unsupported (never a
// defect, never a silent success), so Lease.holding and ConsumerGroup.run refuse to run unguarded.
import { assert, it } from "@effect/vitest"
import { ConsumerGroup, Lease, MemoryStore } from "@strata/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { storeLayer } from "./utils.ts"

it.effect("every lease operation fails with Unsupported", () =>
  Effect.gen(function*() {
    const store = yield* Lease.LeaseStore
    const lease: Lease.Lease = { name: "x", holder: "a", token: 1n, expiresAt: 0 }
    for (
      const op of [
        store.acquire("x", "a", Duration.seconds(1)),
        store.renew(lease, Duration.seconds(1)),
        store.release(lease),
        store.fence(lease),
        store.list("x")
      ]
    ) {
      const error = yield* Effect.flip(op)
      assert.strictEqual(error._tag, "Unsupported")
    }
    const group = yield* Effect.flip(
      ConsumerGroup.run("g", { partitions: 2, handler: () => Effect.void }).pipe(
        Effect.provideService(Lease.LeaseStore, store),
        Effect.provide(MemoryStore.layer())
      )
    )
    assert.strictEqual(group._tag, "Unsupported")
  }).pipe(Effect.provide(storeLayer())))
