/**
 * Tenant isolation: two tenants of a tenant pool (`TenantStores.layer`), each a complete store, never
 * see each other's events, documents, checkpoints, leases or live wake-ups, and a stream name has its
 * own versions in each. Run it on any resolver: `tenantIsolationSuite("sqlite file per tenant", layer)`.
 *
 * The tenants are `acme` and `globex`; every name the test writes is its own (a random suffix), so
 * their stores need not be empty.
 *
 * @since 0.1.0
 */
import { assert, describe, layer } from "@effect/vitest"
import { DocumentStore, Event, EventStore, Tenant, type TenantStores } from "@strata/core"
import { LeaseStore } from "@strata/core/backend"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * Registers the tenant isolation test (see the module documentation) over `tenants`, a pool whose
 * resolver knows `acme` and `globex`. `settle` is how long the other tenant's live subscription is
 * watched for a wake-up it must not get, after the tenant's own got its events: above the backend's
 * poll interval (default 1.2 s).
 *
 * @category suites
 * @since 0.1.0
 */
export const tenantIsolationSuite = (
  name: string,
  tenants: Layer.Layer<TenantStores.TenantStores, unknown>,
  options: { readonly settle?: Duration.Input | undefined } = {}
): void => {
  describe(`two tenants share nothing (${name})`, () => {
    layer(tenants, { timeout: "120 seconds", excludeTestServices: true })((it) => {
      it.effect(
        "events, documents, checkpoints, leases and live wake-ups stay with their tenant",
        () =>
          Effect.gen(function*() {
            const settle = options.settle ?? "1200 millis"
            // A delivery may take long on a loaded machine; what must not happen is checked after it.
            const until = (done: () => boolean) =>
              Effect.suspend(() => done() ? Effect.void : Effect.fail("waiting" as const)).pipe(
                Effect.retry(Schedule.spaced("25 millis")),
                Effect.timeout("20 seconds"),
                Effect.orDie
              )
            const run = Math.random().toString(16).slice(2, 10)
            const [placed, paid] = [`Placed${run}`, `Paid${run}`]
            const stream = `order${run}-1`
            const Notes = DocumentStore.collection(`notes${run}`, Schema.Struct({ text: Schema.String }))
            const acme = Tenant.with("acme")
            const globex = Tenant.with("globex")
            const seen = { acme: [] as Array<string>, globex: [] as Array<string> }
            const follow = (tenant: "acme" | "globex") =>
              Tenant.with(tenant)(
                Stream.runForEach(
                  Stream.unwrap(
                    Effect.map(
                      EventStore.EventStore,
                      // From the start, filtered to this run's own types: "end" raced the first
                      // append where a tenant's store opened slowly (KurrentDB under CI load).
                      (store) => store.subscribeAll({ from: "start", filter: { types: [placed, paid] } })
                    )
                  ),
                  (event) => Effect.sync(() => seen[tenant].push(event.type))
                )
              )
            const followers = yield* Effect.forkChild(
              Effect.all([follow("acme"), follow("globex")], { concurrency: "unbounded" })
            )
            yield* Effect.sleep("500 millis")

            const position = yield* acme(Effect.gen(function*() {
              const store = yield* EventStore.EventStore
              const { position } = yield* store.append(stream, [Event.make(placed, {}), Event.make(paid, {})])
              yield* (yield* DocumentStore.DocumentStore).put(Notes, "n-1", { text: "acme's" })
              yield* store.saveCheckpoint(`mailer${run}`, position)
              const lease = yield* (yield* LeaseStore.LeaseStore).acquire(
                `orders${run}`,
                "acme-1",
                Duration.seconds(30)
              )
              assert.isTrue(Option.isSome(lease))
              return position
            }))
            assert.isTrue(position > 0n)

            yield* globex(Effect.gen(function*() {
              const store = yield* EventStore.EventStore
              assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
              assert.strictEqual(yield* Stream.runCount(store.readAll({ filter: { types: [placed, paid] } })), 0)
              assert.isTrue(Option.isNone(yield* (yield* DocumentStore.DocumentStore).get(Notes, "n-1")))
              assert.isTrue(Option.isNone(yield* store.loadCheckpoint(`mailer${run}`)))
              // The same lease name is free here while acme holds it.
              const lease = yield* (yield* LeaseStore.LeaseStore).acquire(
                `orders${run}`,
                "globex-1",
                Duration.seconds(30)
              )
              assert.isTrue(Option.isSome(lease))
            }))

            // acme's subscriber was woken; globex's was not, across more than one poll interval.
            yield* until(() => seen.acme.length >= 2)
            yield* Effect.sleep(settle)
            assert.deepStrictEqual(seen.acme, [placed, paid])
            assert.deepStrictEqual(seen.globex, [])

            // And the other way round.
            yield* globex(
              Effect.flatMap(EventStore.EventStore, (store) => store.append(stream, [Event.make(placed, {})]))
            )
            yield* until(() => seen.globex.length >= 1)
            yield* Effect.sleep(settle)
            assert.deepStrictEqual(seen.globex, [placed])
            assert.deepStrictEqual(seen.acme, [placed, paid])
            // The same stream name has its own versions in each tenant.
            const versions = yield* Effect.all([
              acme(Effect.flatMap(EventStore.EventStore, (store) => store.streamInfo(stream))),
              globex(Effect.flatMap(EventStore.EventStore, (store) => store.streamInfo(stream)))
            ])
            assert.deepStrictEqual(versions.map((info) => info.lastVersion), [1n, 0n])
            yield* Fiber.interrupt(followers)
          }),
        { timeout: 60_000 }
      )
    })
  })
}
