/**
 * Leases and consumer groups, for every backend that provides a `Lease.LeaseStore`: exclusivity,
 * expiry and takeover, fencing (a stale token cannot commit a checkpoint), release, monotonic
 * tokens; `Lease.holding`; and a consumer group whose members join and leave while every event is
 * handled once (at least once where checkpoints are not transactional), in per-stream order.
 *
 * Tests run on the real clock with short TTLs (a few hundred milliseconds), except the holder's
 * deadline tests, which move a `TestClock` of their own between store calls.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Consumer, ConsumerGroup, DocumentStore, Event, EventStore, Lease, StoreError } from "@strata/core"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { withBuilt } from "./internal/built.ts"
import { hex, names } from "./internal/fixtures.ts"
import { fromBackend, resolve, type Services, type SuiteOptions } from "./SuiteOptions.ts"

const ttl = Duration.millis(400)

const leaseName = () => `lease-${hex()}`

// A checkpoint commit the way a consumer under `Lease.withFencing` makes it.
const commitFenced = <X>(lease: Lease.Lease, name: string, position: bigint, work: Effect.Effect<unknown, X>) =>
  Lease.withFencing(lease)(
    Effect.flatMap(Consumer.Checkpoints, (checkpoints) => checkpoints.commit(name, position, work))
  )

const get = <A>(option: Option.Option<A>, message: string): A => {
  assert.isTrue(Option.isSome(option), message)
  return (option as Option.Some<A>).value
}

const failsWith = <A, E>(effect: Effect.Effect<A, E, any>, tag: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    assert.isTrue(Exit.isFailure(exit), `expected ${tag}, got success`)
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    assert.strictEqual((error as { error?: { _tag?: string } } | undefined)?.error?._tag, tag)
  })

// Runs a store operation with the clock stopped at `millis` (the stores take "now" from `Clock`).
const at = <A, E, R>(millis: number, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const real = yield* Clock.Clock
    return yield* Effect.provideService(effect, Clock.Clock, {
      ...real,
      currentTimeMillisUnsafe: () => millis,
      currentTimeMillis: Effect.succeed(millis),
      currentTimeNanosUnsafe: () => BigInt(millis) * 1_000_000n,
      currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n)
    })
  })

// The store with `renew` passing through the first `ok` renewals and then hanging or failing.
const stallingRenewals = (store: Lease.LeaseStoreShape, ok: number, mode: "hang" | "fail") => {
  let renewals = 0
  let lastExpiry = 0
  const shape: Lease.LeaseStoreShape = {
    ...store,
    renew: (lease, ttl) =>
      Effect.suspend(() => {
        if (renewals++ < ok) {
          return Effect.tap(store.renew(lease, ttl), (renewed) =>
            Effect.sync(() => {
              if (Option.isSome(renewed)) lastExpiry = renewed.value.expiresAt
            }))
        }
        return mode === "hang"
          ? Effect.never
          : Effect.fail(new StoreError.StoreUnavailable({ operation: "Lease.renew", reason: "test", cause: "down" }))
      })
  }
  return { shape, lastExpiry: () => lastExpiry }
}

// The store with its calls counted while in flight: `idle` waits (on the real clock) until none is,
// so a test on a `TestClock` moves time only between store calls, never during one.
const countingCalls = (store: Lease.LeaseStoreShape) => {
  let inFlight = 0
  const counted = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.suspend(() => {
      inFlight++
      return Effect.ensuring(effect, Effect.sync(() => inFlight--))
    })
  const shape: Lease.LeaseStoreShape = {
    acquire: (name, holder, ttl) => counted(store.acquire(name, holder, ttl)),
    renew: (lease, ttl) => counted(store.renew(lease, ttl)),
    release: (lease) => counted(store.release(lease)),
    fence: (lease) => counted(store.fence(lease)),
    list: (prefix) => counted(store.list(prefix)),
    prune: (prefix, olderThan) => counted(store.prune(prefix, olderThan))
  }
  // At most a second, though: a call that waits on the clock itself (a retry's backoff) moves on.
  const idle = TestClock.withLive(Effect.gen(function*() {
    for (let i = 0; i < 1_000 && inFlight > 0; i++) yield* Effect.sleep("1 millis")
  }))
  return { shape, idle }
}

/**
 * Options of {@link leaseSuite}: the suite's options, and the lease TTL of the consumer-group test.
 *
 * @category models
 * @since 0.1.0
 */
export interface LeaseSuiteOptions extends SuiteOptions {
  /**
   * The TTL of the group members' leases (they renew six times per TTL). Default 600 ms; a backend
   * whose statements queue behind each other (D1 in Miniflare) needs a few seconds.
   */
  readonly groupTtl?: Duration.Input | undefined
  /** Events per stream (8 streams) in the consumer-group test. Default 15, at least 4. */
  readonly groupRounds?: number | undefined
}

/**
 * Registers the lease and consumer-group topic for a backend whose layer provides a
 * `Lease.LeaseStore`.
 *
 * @example
 * ```ts
 * import { leaseSuite } from "@strata/conformance"
 * import { MemoryStore } from "@strata/core"
 *
 * leaseSuite("memory", MemoryStore.layer())
 * ```
 *
 * @category suites
 * @since 0.1.0
 */
export const leaseSuite = (
  name: string,
  storeLayer: Layer.Layer<Services, unknown>,
  options?: LeaseSuiteOptions
): void => {
  const groupTtl = Duration.fromInputUnsafe(options?.groupTtl ?? "600 millis")
  const groupRounds = Math.max(4, options?.groupRounds ?? 15)
  withBuilt(
    `Strata conformance, leases and groups (${name})`,
    storeLayer,
    resolve(options).timeout,
    (it, backend) => {
      const resolved = resolve(fromBackend(backend, options))
      describe("leases", () => {
        it.effect("one holder at a time; the holder may acquire again and keeps its token", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const lease = leaseName()
            const a = get(yield* store.acquire(lease, "a", Duration.seconds(10)), "a acquires a free lease")
            assert.isTrue(Option.isNone(yield* store.acquire(lease, "b", Duration.seconds(10))), "b must wait")
            const again = get(yield* store.acquire(lease, "a", Duration.seconds(10)), "a acquires again")
            assert.strictEqual(again.token, a.token)
            assert.isTrue(again.expiresAt >= a.expiresAt)
            const renewed = get(yield* store.renew(a, Duration.seconds(10)), "a renews")
            assert.strictEqual(renewed.token, a.token)
          }))

        it.effect("an expired lease is taken over with a larger token, and the former holder cannot renew", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const lease = leaseName()
            const a = get(yield* store.acquire(lease, "a", ttl), "a acquires")
            assert.isTrue(Option.isNone(yield* store.acquire(lease, "b", ttl)), "b waits while a's lease lives")
            yield* Effect.sleep(Duration.sum(ttl, Duration.millis(100)))
            const b = get(yield* store.acquire(lease, "b", Duration.seconds(10)), "b takes over after the TTL")
            assert.isTrue(b.token > a.token, "the token grows on a change of hands")
            assert.isTrue(Option.isNone(yield* store.renew(a, ttl)), "a's renewal finds the lease taken")
            assert.isTrue(Option.isNone(yield* store.acquire(lease, "a", ttl)), "a must now wait for b")
          }))

        it.effect("fencing: a stale token cannot pass the fence, nor commit a checkpoint", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const events = yield* EventStore.EventStore
            const n = names()
            const lease = leaseName()
            const a = get(yield* store.acquire(lease, "a", ttl), "a acquires")
            yield* store.fence(a)
            yield* Effect.sleep(Duration.sum(ttl, Duration.millis(100)))
            const b = get(yield* store.acquire(lease, "b", Duration.seconds(10)), "b takes over")
            yield* failsWith(store.fence(a), "LeaseLost")
            yield* store.fence(b)
            let ran = false
            yield* failsWith(
              commitFenced(a, n.checkpoint(), 5n, Effect.sync(() => (ran = true))),
              "LeaseLost"
            )
            assert.isTrue(ran, "the work ran before the fence")
            assert.isTrue(
              Option.isNone(yield* events.loadCheckpoint(n.checkpoint())),
              "the stale holder committed nothing"
            )
            yield* commitFenced(b, n.checkpoint(), 7n, Effect.void)
            assert.deepStrictEqual(yield* events.loadCheckpoint(n.checkpoint()), Option.some(7n))
          }))

        // Only where checkpoints are transactional: elsewhere the handler's writes stand (at-least-once).
        it.effect.skipIf(!resolved.transactionalCheckpoints)(
          "a fenced commit refused after a takeover rolls back the handler's document writes",
          () =>
            Effect.gen(function*() {
              const store = yield* Lease.LeaseStore
              const docs = yield* DocumentStore.DocumentStore
              const n = names()
              const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
              const lease = leaseName()
              const a = get(yield* store.acquire(lease, "a", ttl), "a acquires")
              yield* Effect.sleep(Duration.sum(ttl, Duration.millis(100)))
              get(yield* store.acquire(lease, "b", Duration.seconds(10)), "b takes over")
              yield* failsWith(
                commitFenced(
                  a,
                  n.checkpoint(),
                  1n,
                  Effect.asVoid(docs.put(collection, "x", { by: "a" }))
                ),
                "LeaseLost"
              )
              assert.isTrue(Option.isNone(yield* docs.get(collection, "x")), "the stale batch left no document")
            })
        )

        it.effect("release frees the lease at once; tokens grow with every change of hands", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const lease = leaseName()
            let previous = 0n
            for (const holder of ["a", "b", "a", "c"]) {
              const held = get(yield* store.acquire(lease, holder, Duration.seconds(30)), `${holder} acquires`)
              assert.isTrue(held.token > previous, `token ${held.token} > ${previous}`)
              previous = held.token
              yield* store.release(held)
              yield* failsWith(store.fence(held), "LeaseLost")
              assert.isTrue(Option.isNone(yield* store.renew(held, ttl)), "a released lease cannot be renewed")
            }
          }))

        it.effect("list gives the live leases under a prefix, not released or expired ones", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const prefix = `${leaseName()}/`
            const a = get(yield* store.acquire(`${prefix}a`, "a", Duration.seconds(30)), "a")
            get(yield* store.acquire(`${prefix}b`, "b", Duration.seconds(30)), "b")
            get(yield* store.acquire(`${prefix}c`, "c", Duration.millis(50)), "c")
            get(yield* store.acquire(`${leaseName()}/d`, "d", Duration.seconds(30)), "d elsewhere")
            yield* store.release(a)
            yield* Effect.sleep("150 millis")
            const live = yield* store.list(prefix)
            assert.deepStrictEqual(live.map((l) => l.name).sort(), [`${prefix}b`])
          }))

        it.effect("prune deletes released and long-expired leases under a prefix; a pruned name starts its tokens over", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const prefix = `${leaseName()}/`
            const released = get(yield* store.acquire(`${prefix}released`, "r", Duration.seconds(30)), "released")
            get(yield* store.acquire(`${prefix}expired`, "e", Duration.millis(50)), "expired")
            get(yield* store.acquire(`${prefix}live`, "l", Duration.seconds(30)), "live")
            const elsewhere = `${leaseName()}/gone`
            get(yield* store.acquire(elsewhere, "g", Duration.millis(50)), "elsewhere")
            // Handed on once, so its token is 2: a name that survives pruning keeps counting from there.
            yield* store.release(released)
            const second = get(yield* store.acquire(`${prefix}released`, "r2", Duration.millis(50)), "again")
            assert.strictEqual(second.token, released.token + 1n)
            yield* Effect.sleep("150 millis")
            // Nothing has been expired for 10 seconds yet.
            assert.strictEqual(yield* store.prune(prefix, Duration.seconds(10)), 0)
            assert.strictEqual(yield* store.prune(prefix, Duration.millis(50)), 2)
            assert.deepStrictEqual((yield* store.list(prefix)).map((l) => l.name), [`${prefix}live`])
            // Gone, so taken again it starts over; the live one and the other prefix were left alone.
            const fresh = get(yield* store.acquire(`${prefix}released`, "r3", Duration.seconds(1)), "fresh")
            assert.strictEqual(fresh.token, 1n)
            assert.isTrue(Option.isNone(yield* store.acquire(`${prefix}live`, "other", Duration.seconds(1))))
            const kept = get(yield* store.acquire(elsewhere, "g2", Duration.seconds(1)), "elsewhere again")
            assert.strictEqual(kept.token, 2n, "the other prefix's expired lease was not pruned")
          }))

        it.effect("bad names and TTLs are InvalidArgument", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            yield* failsWith(store.acquire("", "a", ttl), "InvalidArgument")
            yield* failsWith(store.acquire("x".repeat(201), "a", ttl), "InvalidArgument")
            yield* failsWith(store.acquire(leaseName(), "a", Duration.zero), "InvalidArgument")
          }))

        it.effect("holding: a second holder stands by, takes over on release, and a lost lease interrupts the work", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const lease = leaseName()
            const options = { ttl, renewEvery: Duration.millis(50) }
            const firstIn = yield* Deferred.make<Lease.Lease>()
            const finishFirst = yield* Deferred.make<void>()
            const first = yield* Effect.forkChild(
              Lease.holding(lease, { ...options, holder: "a" })((held) =>
                Effect.andThen(Deferred.succeed(firstIn, held), Deferred.await(finishFirst))
              )
            )
            const a = yield* Deferred.await(firstIn)
            const secondIn = yield* Deferred.make<Lease.Lease>()
            const second = yield* Effect.forkChild(
              Lease.holding(lease, { ...options, holder: "b" })((held) =>
                Effect.andThen(Deferred.succeed(secondIn, held), Effect.never)
              )
            )
            yield* Effect.sleep("300 millis")
            assert.isFalse(
              yield* Deferred.isDone(secondIn),
              "b stands by while a holds the lease (renewed past its TTL)"
            )
            yield* Deferred.succeed(finishFirst, undefined)
            yield* Fiber.join(first)
            const b = yield* Deferred.await(secondIn).pipe(Effect.timeout("2 seconds"))
            assert.isTrue(b.token > a.token)
            // Someone else takes b's lease (as after a stall past its TTL): b's work is interrupted.
            yield* store.release(b)
            get(yield* store.acquire(lease, "c", Duration.seconds(30)), "c takes the released lease")
            const exit = yield* Fiber.await(second).pipe(Effect.timeout("2 seconds"))
            assert.isTrue(Exit.isFailure(exit))
            const reason = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
            assert.isTrue(reason !== undefined && (reason as { error: unknown }).error instanceof StoreError.LeaseLost)
          }))

        it.effect("expiry at the exact instant: live until expiresAt, expired (taken over, not listed) at expiresAt", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const prefix = `${leaseName()}/`
            const lease = `${prefix}x`
            const t0 = Date.now()
            const a = get(yield* at(t0, store.acquire(lease, "a", Duration.millis(1000))), "a acquires")
            assert.strictEqual(a.expiresAt, t0 + 1000)
            // One millisecond before: still a's.
            assert.isTrue(
              Option.isNone(yield* at(t0 + 999, store.acquire(lease, "b", ttl))),
              "b waits at expiresAt - 1"
            )
            assert.deepStrictEqual((yield* at(t0 + 999, store.list(prefix))).map((l) => l.holder), ["a"])
            // At expiresAt: expired. Not listed, and another holder takes it with the next token.
            assert.deepStrictEqual(yield* at(t0 + 1000, store.list(prefix)), [])
            const b = get(
              yield* at(t0 + 1000, store.acquire(lease, "b", Duration.millis(1000))),
              "b takes it at expiresAt"
            )
            assert.strictEqual(b.token, a.token + 1n)
            // The same holder, at its own expiry, takes it again as a new acquisition: a new token.
            const b2 = get(
              yield* at(t0 + 2000, store.acquire(lease, "b", Duration.millis(1000))),
              "b again at expiresAt"
            )
            assert.strictEqual(b2.token, b.token + 1n)
            // Still live one millisecond before the new expiry: the holder keeps its token.
            const b3 = get(yield* at(t0 + 2999, store.acquire(lease, "b", Duration.millis(1000))), "b extends")
            assert.strictEqual(b3.token, b2.token)
            yield* store.release(b3)
          }))

        it.effect("fencing: the same holder's stale token (taken again with a new one) cannot commit a checkpoint", () =>
          Effect.gen(function*() {
            const store = yield* Lease.LeaseStore
            const events = yield* EventStore.EventStore
            const n = names()
            const lease = leaseName()
            const old = get(yield* store.acquire(lease, "a", ttl), "a acquires")
            yield* Effect.sleep(Duration.sum(ttl, Duration.millis(100)))
            const fresh = get(yield* store.acquire(lease, "a", Duration.seconds(10)), "a again, after expiry")
            assert.isTrue(fresh.token > old.token, "taken again after expiry: a new token")
            yield* failsWith(store.fence(old), "LeaseLost")
            yield* failsWith(commitFenced(old, n.checkpoint(), 5n, Effect.void), "LeaseLost")
            assert.isTrue(
              Option.isNone(yield* events.loadCheckpoint(n.checkpoint())),
              "the stale token committed nothing"
            )
            assert.isTrue(Option.isNone(yield* store.renew(old, ttl)), "nor renews")
            yield* commitFenced(fresh, n.checkpoint(), 7n, Effect.void)
            // Released and taken again by the same holder: the token before is stale too.
            yield* store.release(fresh)
            const third = get(yield* store.acquire(lease, "a", Duration.seconds(10)), "a again, after release")
            assert.isTrue(third.token > fresh.token, "taken again after release: a new token")
            yield* failsWith(commitFenced(fresh, n.checkpoint(), 9n, Effect.void), "LeaseLost")
            assert.deepStrictEqual(yield* events.loadCheckpoint(n.checkpoint()), Option.some(7n))
            yield* commitFenced(third, n.checkpoint(), 11n, Effect.void)
            assert.deepStrictEqual(yield* events.loadCheckpoint(n.checkpoint()), Option.some(11n))
          }))

        // On a `TestClock` of their own, moved 1 ms at a time and only while no store call is in
        // flight: the holder's deadline, a hanging renewal's timeout and the next holder's attempts
        // fall at exact instants however slow the machine. On the real clock a stall longer than the
        // holder's margin (40 ms here) made the work stop after the expiry (D1 at load 10: 5 ms after).
        for (const mode of ["hang", "fail"] as const) {
          it.effect(`hold: renewals that ${mode} stop the work before the lease expires, before the next holder starts`, () =>
            Effect.gen(function*() {
              const real = yield* Lease.LeaseStore
              yield* TestClock.setTime(Date.now())
              const store = countingCalls(real)
              const lease = leaseName()
              const options = { ttl, renewEvery: Duration.millis(50), holder: "a" }
              // Two renewals succeed, then every one hangs (a partitioned connection) or fails.
              const stalling = stallingRenewals(store.shape, 2, mode)
              const first = get(yield* store.shape.acquire(lease, "a", ttl), "a acquires")
              let stoppedAt: number | undefined
              const started = yield* Deferred.make<void>()
              const holder = yield* Effect.forkChild(
                Lease.hold(
                  stalling.shape,
                  first,
                  options,
                  () =>
                    Effect.andThen(Deferred.succeed(started, undefined), Effect.never).pipe(
                      Effect.onInterrupt(() =>
                        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => (stoppedAt = now)))
                      )
                    )
                )
              )
              yield* Deferred.await(started)
              // The next holder tries every 20 ms; when it gets the lease, the work must have stopped.
              let stoppedWhenTaken: boolean | undefined
              let tookOverAt: number | undefined
              const next = yield* Lease.acquireWaiting(store.shape, lease, {
                ttl: Duration.seconds(10),
                renewEvery: Duration.millis(20),
                holder: "b"
              }).pipe(
                Effect.tap(() =>
                  Effect.flatMap(Clock.currentTimeMillis, (now) =>
                    Effect.sync(() => {
                      stoppedWhenTaken = stoppedAt !== undefined
                      tookOverAt = now
                    }))
                ),
                Effect.forkChild
              )
              // Five virtual seconds at most (the lease lives 400 ms past the last renewal).
              for (
                let i = 0;
                i < 5_000 && (holder.pollUnsafe() === undefined || next.pollUnsafe() === undefined);
                i++
              ) {
                yield* store.idle
                yield* TestClock.adjust("1 millis")
              }
              const exit = holder.pollUnsafe()
              assert.isDefined(exit, "the holder ends")
              assert.isTrue(Exit.isFailure(exit!), "the holder ends")
              const reason = Exit.isFailure(exit!) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
              assert.isTrue(
                reason !== undefined && (reason as { error: unknown }).error instanceof StoreError.LeaseLost
              )
              const taken = next.pollUnsafe()
              assert.isTrue(taken !== undefined && Exit.isSuccess(taken), "the next holder takes the lease")
              const expiry = Math.max(first.expiresAt, stalling.lastExpiry())
              assert.isTrue(stalling.lastExpiry() > first.expiresAt, "the first renewals went through")
              assert.isDefined(stoppedAt, "the work was interrupted")
              assert.isTrue(stoppedAt! < expiry, `work stopped at ${stoppedAt}, the lease expired at ${expiry}`)
              // (The holder releases the lease once its work stopped, so b may take it in the same instant.)
              assert.isTrue(stoppedWhenTaken, "the work had stopped when the next holder took the lease")
              assert.isTrue(stoppedAt! <= tookOverAt!, `work stopped at ${stoppedAt}, b took over at ${tookOverAt}`)
              const b = (taken as Exit.Success<Lease.Lease>).value
              assert.isTrue(b.token > first.token)
              yield* real.release(b)
            }).pipe(Effect.provide(TestClock.layer())))
        }
      })

      describe("exclusive consumers", () => {
        it.effect("a second instance of a named consumer stands by, takes over when the first stops, and each event is handled once", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const n = names()
            const consumer = `exclusive-${hex()}`
            const handled = new Map<string, Array<string>>()
            const instance = (id: string) => (event: Event.RecordedEvent) =>
              Effect.sync(() => {
                const seen = handled.get(event.id) ?? []
                handled.set(event.id, [...seen, id])
              })
            // A lease that outlives any stall of a loaded machine (with 400 ms, a stall past the 40 ms
            // margin lost it, and the standby took over early): the standby takes over because the
            // first instance released the lease as it stopped, found within 50 ms.
            const options = (id: string) => ({
              handler: instance(id),
              filter: { categories: [n.category] },
              exclusive: { ttl: Duration.seconds(30), renewEvery: Duration.millis(50) }
            })
            const appendSome = (round: number) =>
              Effect.map(
                store.append(n.stream("s"), [Event.make(n.type("E"), { round }), Event.make(n.type("E"), { round })]),
                (result) => result.position
              )
            const scopeA = yield* Scope.make()
            const a = yield* Consumer.make(consumer, options("a")).pipe(Scope.provide(scopeA))
            const scopeB = yield* Scope.make()
            const b = yield* Consumer.make(consumer, options("b")).pipe(Scope.provide(scopeB))
            const first = yield* appendSome(0)
            // Whichever instance took the lease handles; the other stands by.
            const [active, standby, activeScope] = yield* Effect.gen(function*() {
              for (let i = 0; i < 200; i++) {
                const [sa, sb] = [yield* a.status, yield* b.status]
                if (sa.state === "standby" && sb.state !== "standby" && sb.state !== "starting") {
                  return [b, a, scopeB] as const
                }
                if (sb.state === "standby" && sa.state !== "standby" && sa.state !== "starting") {
                  return [a, b, scopeA] as const
                }
                yield* Effect.sleep("25 millis")
              }
              return assert.fail("one instance should hold the lease while the other stands by")
            })
            yield* active.waitFor(first).pipe(Effect.timeout("5 seconds"))
            yield* Effect.sleep("200 millis")
            assert.strictEqual((yield* standby.status).state, "standby")
            yield* Scope.close(activeScope, Exit.void)
            const second = yield* appendSome(1)
            yield* standby.waitFor(second).pipe(Effect.timeout("5 seconds"))
            yield* Scope.close(activeScope === scopeA ? scopeB : scopeA, Exit.void)
            assert.strictEqual(handled.size, 4)
            for (const [id, by] of handled) assert.strictEqual(by.length, 1, `event ${id} handled by ${by.join(", ")}`)
            const handlers = new Set([...handled.values()].map((by) => by[0]))
            assert.strictEqual(handlers.size, 2, "the standby took over after the first instance stopped")
          }))

        it.effect("exclusive is the default: with no option a second instance stands by; exclusive: false opts out", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const n = names()
            const handled: Array<string> = []
            const options = (id: string, exclusive?: false) => ({
              handler: (event: Event.RecordedEvent) => Effect.sync(() => void handled.push(`${id}:${event.id}`)),
              filter: { categories: [n.category] },
              ...(exclusive === undefined ? {} : { exclusive })
            })
            const position = (yield* store.append(n.stream("s"), [Event.make(n.type("E"), {})])).position

            // No option: one instance takes the lease, the other stands by and handles nothing.
            const exclusiveName = `default-${hex()}`
            yield* Effect.scoped(Effect.gen(function*() {
              const a = yield* Consumer.make(exclusiveName, options("a"))
              yield* a.waitFor(position).pipe(Effect.timeout("5 seconds"))
              const b = yield* Consumer.make(exclusiveName, options("b"))
              for (let i = 0; i < 40 && (yield* b.status).state !== "standby"; i++) yield* Effect.sleep("25 millis")
              assert.strictEqual((yield* b.status).state, "standby")
              yield* Effect.sleep("200 millis")
              assert.deepStrictEqual(handled.filter((line) => line.startsWith("b:")), [])
            }))
            assert.strictEqual(handled.length, 1)

            // exclusive: false, asked for explicitly: neither stands by, and both handle what is appended
            // while both run (the hazard the default prevents).
            handled.length = 0
            const sharedName = `shared-${hex()}`
            yield* Effect.scoped(Effect.gen(function*() {
              const a = yield* Consumer.make(sharedName, options("a", false))
              const b = yield* Consumer.make(sharedName, options("b", false))
              yield* a.waitFor(position).pipe(Effect.timeout("5 seconds"))
              yield* b.waitFor(position).pipe(Effect.timeout("5 seconds"))
              handled.length = 0
              const next = (yield* store.append(n.stream("s"), [Event.make(n.type("E"), {})])).position
              yield* a.waitFor(next).pipe(Effect.timeout("5 seconds"))
              yield* b.waitFor(next).pipe(Effect.timeout("5 seconds"))
            }))
            assert.deepStrictEqual(handled.map((line) => line.split(":")[0]).sort(), ["a", "b"])
          }))
        it.effect("a lost lease never counts against the restart schedule: the consumer stands by and resumes", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const leases = yield* Lease.LeaseStore
            const n = names()
            const consumer = `exclusive-${hex()}`
            const handled: Array<number> = []
            // A restart schedule that allows no restart at all: a lost lease must not use it up.
            const instance = yield* Consumer.make(consumer, {
              handler: (event) => Effect.sync(() => void handled.push((event.data as { i: number }).i)),
              filter: { categories: [n.category] },
              restart: Schedule.recurs(0),
              exclusive: { ttl, renewEvery: Duration.millis(50) }
            })
            const until = (what: string, check: (state: Consumer.ConsumerState) => boolean) =>
              Effect.gen(function*() {
                for (let i = 0; i < 200; i++) {
                  const status = yield* instance.status
                  assert.notStrictEqual(status.state, "failed", `the consumer failed: ${status.failure?.message}`)
                  if (check(status.state)) return
                  yield* Effect.sleep("10 millis")
                }
                assert.fail(`timed out waiting until ${what}`)
              })
            for (let round = 0; round < 3; round++) {
              const { position } = yield* store.append(n.stream(), [Event.make(n.type("E"), { i: round })])
              yield* instance.waitFor(position).pipe(Effect.timeout("5 seconds"))
              // Another instance takes the lease (as after a stall): this one loses it and stands by.
              const held = (yield* leases.list(`consumer/${consumer}`)).find((l) => l.name === `consumer/${consumer}`)
              assert.isDefined(held, "the consumer holds its lease")
              yield* leases.release(held!)
              const thief = get(yield* leases.acquire(`consumer/${consumer}`, "thief", Duration.seconds(30)), "thief")
              yield* until("the consumer stands by", (state) => state === "standby")
              yield* leases.release(thief)
            }
            const { position } = yield* store.append(n.stream(), [Event.make(n.type("E"), { i: 3 })])
            yield* instance.waitFor(position).pipe(Effect.timeout("5 seconds"))
            assert.deepStrictEqual(handled, [0, 1, 2, 3])
            assert.notStrictEqual((yield* instance.status).state, "failed")
          }).pipe(Effect.scoped))
      })

      describe("consumer groups", () => {
        it.effect(
          "members share the partitions, rebalance when members join and leave, and handle every event in stream order",
          () =>
            Effect.gen(function*() {
              const store = yield* EventStore.EventStore
              const leases = yield* Lease.LeaseStore
              const docs = yield* DocumentStore.DocumentStore
              const n = names()
              const group = `g-${hex()}`
              const partitions = 4
              const collection = DocumentStore.collection(
                n.collection(),
                Schema.Struct({ last: Schema.Number, handled: Schema.Number })
              )
              let duplicates = 0
              let outOfOrder = 0
              const handler = (event: Event.RecordedEvent) =>
                Effect.gen(function*() {
                  const current = yield* docs.get(collection, event.stream)
                  const last = Option.isSome(current) ? current.value.value.last : -1
                  const version = Number(event.version)
                  if (version <= last) {
                    duplicates++
                    return
                  }
                  if (version !== last + 1) outOfOrder++
                  yield* docs.put(collection, event.stream, {
                    last: version,
                    handled: (Option.isSome(current) ? current.value.value.handled : 0) + 1
                  })
                }).pipe(Effect.orDie)
              const member = (id: string) =>
                ConsumerGroup.run(group, {
                  partitions,
                  member: id,
                  filter: { categories: [n.category] },
                  checkpointEvery: 5,
                  ttl: groupTtl,
                  rebalanceEvery: Duration.millis(Math.max(20, Duration.toMillis(groupTtl) / 6)),
                  handler
                })
              const streams = 8
              // Appended in four steps: before the first member, after it, after the second joined, after the first left.
              const perStream = groupRounds
              const append = (round: number) =>
                Effect.forEach(Array.from({ length: streams }, (_, s) => s), (s) =>
                  store.append(n.stream(`s${s}`), [Event.make(n.type("E"), { round })]), { discard: true })
              const holders = Effect.map(leases.list(`strata.group/${group}/partition/`), (held) => {
                const counts = new Map<string, number>()
                for (const lease of held) {
                  counts.set(lease.holder, (counts.get(lease.holder) ?? 0) + 1)
                }
                return counts
              })
              const waitUntil = (what: string, check: Effect.Effect<boolean, unknown>) =>
                Effect.gen(function*() {
                  for (let i = 0; i < 200; i++) {
                    if (yield* check) {
                      return
                    }
                    yield* Effect.sleep("25 millis")
                  }
                  assert.fail(`timed out waiting until ${what}`)
                })

              const [first, second, third] = [Math.ceil(perStream / 3), Math.ceil((2 * perStream) / 3), perStream - 1]
              for (let round = 0; round < first; round++) {
                yield* append(round)
              }
              const a = yield* Effect.forkChild(member("a"))
              yield* waitUntil(
                "a holds all partitions",
                Effect.map(holders, (h) =>
                  h.get("a") === partitions)
              )
              for (let round = first; round < second; round++) {
                yield* append(round)
              }
              const b = yield* Effect.forkChild(member("b"))
              yield* waitUntil(
                "a and b hold two partitions each",
                Effect.map(holders, (h) =>
                  h.get("a") === 2 && h.get("b") === 2)
              )
              for (let round = second; round < third; round++) yield* append(round)
              yield* Fiber.interrupt(a)
              yield* waitUntil(
                "b holds all partitions after a left",
                Effect.map(holders, (h) => h.get("b") === partitions)
              )
              for (let round = third; round < perStream; round++) yield* append(round)
              yield* waitUntil(
                "every event is handled",
                Effect.map(
                  Effect.forEach(
                    Array.from({ length: streams }, (_, s) => s),
                    (s) => docs.get(collection, n.stream(`s${s}`))
                  ),
                  (all) => all.every((doc) => Option.isSome(doc) && doc.value.value.last === perStream - 1)
                )
              )
              yield* Fiber.interrupt(b)
              assert.strictEqual(outOfOrder, 0, "every stream's events were handled in order")
              for (let s = 0; s < streams; s++) {
                const doc = get(yield* docs.get(collection, n.stream(`s${s}`)), "a document per stream")
                assert.strictEqual(doc.value.handled, perStream, `stream s${s}: every event counted once`)
              }
              if (resolved.transactionalCheckpoints) {
                assert.strictEqual(duplicates, 0, "transactional checkpoints: no event delivered twice")
              }
            }),
          { timeout: 120_000 }
        )

        for (const [partitions, memberCount] of [[4, 3], [2, 3]] as const) {
          it.effect(
            `${partitions} partitions, ${memberCount} members: every partition owned, every event handled`,
            () =>
              Effect.gen(function*() {
                const store = yield* EventStore.EventStore
                const leases = yield* Lease.LeaseStore
                const docs = yield* DocumentStore.DocumentStore
                const n = names()
                const group = `g-${hex()}`
                // Each handling writes through the store, so what is counted is what committed with
                // the checkpoint: a batch whose member lost its partition mid-way (a loaded machine
                // misses a renewal) rolls back and is handled again by the next owner, and counting
                // in memory would count that attempt too.
                const handlings = DocumentStore.collection(n.collection(), Schema.Struct({ times: Schema.Number }))
                const member = (id: string) =>
                  ConsumerGroup.run(group, {
                    partitions,
                    member: id,
                    filter: { categories: [n.category] },
                    checkpointEvery: 5,
                    ttl: groupTtl,
                    rebalanceEvery: Duration.millis(Math.max(20, Duration.toMillis(groupTtl) / 6)),
                    handler: (event) =>
                      Effect.gen(function*() {
                        const current = yield* docs.get(handlings, event.id)
                        const times = Option.isSome(current) ? current.value.value.times : 0
                        yield* docs.put(handlings, event.id, { times: times + 1 })
                      }).pipe(Effect.orDie)
                  })
                const streams = 12
                const appended: Array<string> = []
                const append = (round: number) =>
                  Effect.forEach(Array.from({ length: streams }, (_, s) => s), (s) =>
                    Effect.suspend(() => {
                      const event = Event.make(n.type("E"), { round })
                      appended.push(event.id)
                      return store.append(n.stream(`s${s}`), [event])
                    }), { discard: true })
                const handled = Effect.forEach(appended, (id) => docs.get(handlings, id))
                const waitUntil = (what: string, check: Effect.Effect<boolean, unknown>) =>
                  Effect.gen(function*() {
                    for (let i = 0; i < 400; i++) {
                      if (yield* check) return
                      yield* Effect.sleep("25 millis")
                    }
                    assert.fail(`timed out waiting until ${what}`)
                  })
                yield* append(0)
                const fibers = yield* Effect.forEach(
                  Array.from({ length: memberCount }, (_, i) => `m${i}`),
                  (id) => Effect.forkChild(member(id))
                )
                const owners = leases.list(`strata.group/${group}/partition/`)
                yield* waitUntil(
                  `all ${memberCount} members joined`,
                  Effect.map(leases.list(`strata.group/${group}/member/`), (held) => held.length === memberCount)
                )
                yield* append(1)
                yield* waitUntil(
                  "every partition is owned, each member within its share",
                  Effect.map(owners, (held) => {
                    const counts = new Map<string, number>()
                    for (const lease of held) counts.set(lease.holder, (counts.get(lease.holder) ?? 0) + 1)
                    return new Set(held.map((l) => l.name)).size === partitions &&
                      [...counts.values()].every((c) => c <= Math.ceil(partitions / memberCount))
                  })
                )
                yield* append(2)
                yield* waitUntil("every event is handled", Effect.map(handled, (all) => all.every(Option.isSome)))
                for (const fiber of fibers) yield* Fiber.interrupt(fiber)
                assert.strictEqual(appended.length, 3 * streams)
                const times = (yield* handled).map((doc) => Option.isSome(doc) ? doc.value.value.times : 0)
                for (const [i, id] of appended.entries()) {
                  assert.isAtLeast(times[i], 1, `event ${id} handled`)
                  if (resolved.transactionalCheckpoints) assert.strictEqual(times[i], 1, `event ${id} handled once`)
                }
              }),
            { timeout: 120_000 }
          )
        }
      })
    }
  )
}
