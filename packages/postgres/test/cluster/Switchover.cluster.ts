/**
 * A planned switchover (`pgautofailover.perform_failover`, what `pg_autoctl perform switchover` calls) under load: the old primary turns
 * read-only (`default_transaction_read_only`, applied to sessions already open) before it is demoted.
 * Appends must fail typed (`StoreUnavailable`) or succeed, never die, and resume on the new primary.
 */
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, Store } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as PgCluster from "../../src/PgCluster.ts"
import * as AutoFailover from "./autofailover.ts"

describe("PostgreSQL switchover under pg_auto_failover", () => {
  it.live(
    "appends fail typed or succeed through a planned switchover, then resume on the new primary",
    () =>
      Effect.gen(function*() {
        const { backend, cluster, first } = yield* AutoFailover.scoped("sync")
        yield* Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const primary = yield* PgCluster.Primary
          const violations: Array<string> = []
          let acked = 0
          let ackedAfter = 0
          let switched = false
          let stop = false
          const writer = (w: number) =>
            Effect.gen(function*() {
              while (!stop) {
                const exit = yield* Effect.exit(store.append(`switchover-${w}`, [Event.make("Switched", { w })]))
                if (Exit.isSuccess(exit)) {
                  acked++
                  if (switched) ackedAfter++
                  continue
                }
                const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
                const tag = failure?._tag === "Fail" ? (failure.error as { _tag?: string })._tag : undefined
                if (tag !== "StoreUnavailable") violations.push(String(exit.cause).slice(0, 400))
                yield* Effect.sleep("50 millis")
              }
            })
          const fibers = yield* Effect.forEach([0, 1, 2, 3], (w) => Effect.forkScoped(writer(w)))
          while (acked < 200) yield* Effect.sleep("20 millis")
          yield* Effect.promise(() =>
            cluster.psql(
              cluster.monitorPort,
              "pg_auto_failover",
              "SELECT pgautofailover.perform_failover('default', 0)"
            )
          )
          yield* Effect.promise(() =>
            cluster.waitUntil(
              "the other node primary",
              (s) => s.some((n) => n.name !== first.name && n.reported === "primary" && n.goal === "primary"),
              180_000
            )
          )
          switched = true
          for (let waited = 0; ackedAfter < 200 && waited < 120_000; waited += 50) yield* Effect.sleep("50 millis")
          stop = true
          yield* Fiber.joinAll(fibers)
          const now = yield* primary.current
          console.log(
            `switchover: ${acked} acknowledged, ${ackedAfter} after, primary ${now}, violations ${violations.length}`
          )
          assert.deepStrictEqual(violations, [], "appends fail typed (StoreUnavailable) or succeed")
          assert.isAtLeast(ackedAfter, 200)
          assert.notStrictEqual(now, `127.0.0.1:${first.port}`)
        }).pipe(Effect.provide(Store.layer(backend, { retry: false })))
      }).pipe(Effect.scoped),
    600_000
  )
})
