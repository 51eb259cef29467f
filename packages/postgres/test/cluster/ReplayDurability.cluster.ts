/**
 * A retried append must not be answered with success for events the synchronous standby does not
 * have. When a commit waiting for its standby is cancelled (the driver sends a CancelRequest when the
 * waiting fiber is interrupted, e.g. by a caller's timeout), PostgreSQL keeps the transaction committed
 * on the primary, visible, but not replicated. The caller's retry with the same event ids then meets
 * the replay rule: if the replay answers success from what it reads on the primary, a failover can
 * lose an append Strata reported as stored.
 */
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, Store } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as AutoFailover from "./autofailover.ts"

describe("PostgreSQL failover: a replayed append", () => {
  it.live("is not answered with success before the synchronous standby has it", () =>
    Effect.gen(function*() {
      const { backend, cluster, first } = yield* AutoFailover.scoped("sync")
      yield* Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        yield* store.append("replay-warmup", [Event.make("Warmup", {})])
        const event = Event.make("Replayed", { n: 1 })
        // The standby stops receiving: the commit waits for it, and the caller gives up after 2 s.
        cluster.pauseReplication(first)
        const attempt = yield* Effect.exit(store.append("replay-1", [event]).pipe(Effect.timeout("2 seconds")))
        assert.isTrue(Exit.isFailure(attempt), "the first attempt cannot commit without the standby")
        // The driver cancels the interrupted statement after a grace period.
        yield* Effect.sleep("3 seconds")
        // The retry, same event id, while the standby still has nothing.
        const retry = yield* Effect.exit(store.append("replay-1", [event]).pipe(Effect.timeout("3 seconds")))
        const answered = Exit.isSuccess(retry)
        cluster.kill(first)
        yield* Effect.promise(() =>
          cluster.waitUntil(
            "the standby promoted",
            (s) => s.some((n) => n.name !== first.name && ["wait_primary", "primary"].includes(n.reported)),
            120_000
          )
        )
        const stored = yield* Stream.runCollect(store.read("replay-1")).pipe(
          Effect.retry({ times: 150, schedule: Schedule.spaced("200 millis") }),
          Effect.map((events) => Array.from(events, (e) => e.id))
        )
        console.log(
          `replay durability: retry answered ${answered ? "success" : "failure"}, stored after failover: ${
            JSON.stringify(stored)
          }`
        )
        if (answered) {
          assert.deepStrictEqual(stored, [event.id], "an append answered with success survives the failover")
        }
      }).pipe(Effect.provide(Store.layer(backend, { retry: false })))
    }).pipe(Effect.scoped), 600_000)
})
