/**
 * Real connection loss under load, which only PostgreSQL's own `pg_terminate_backend` gives: while
 * another connection terminates busy backends every few milliseconds, multi-stream appends through
 * the default (retrying) store layer end in their result or a typed `StoreUnavailable`, never a
 * defect, and every append that answered is stored exactly once.
 *
 * The storm kills nearly every attempt on a loaded machine (an attempt then takes ~0.6 s, most appends
 * spend their whole retry budget), so the run time follows the machine's load, not the driver: 400
 * appends took 25-32 s idle, and ran past the 120 s timeout at load 17 with @effect/sql-pg 4.0.5 and
 * 4.1.5 alike. So new appends stop starting after 30 s; those already started finish and are checked.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { makeSecondClient, PgTestDatabase } from "./utils.ts"

const StoreLayer = PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient))

describe("PostgreSQL terminations", () => {
  layer(StoreLayer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "appendMany under pg_terminate_backend: a result or StoreUnavailable, never a defect; each stored once",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const admin = yield* makeSecondClient({ maxConnections: 1 })
          const tag = `term${Math.random().toString(16).slice(2, 10)}`
          const stopStartingAt = Date.now() + 30_000
          // Terminates every other backend of this database that is running a statement, every 2-22 ms.
          const killer = yield* Effect.forever(
            Effect.gen(function*() {
              yield* admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()`.pipe(Effect.ignore)
              yield* Effect.sleep(`${2 + Math.floor(Math.random() * 20)} millis`)
            })
          ).pipe(Effect.forkChild)
          const outcomes = yield* Effect.forEach(
            Array.from({ length: 400 }, (_, i) => i),
            (i) =>
              Effect.suspend(() =>
                Date.now() > stopStartingAt
                  ? Effect.succeed(undefined)
                  : Effect.exit(store.appendMany([
                    { stream: `${tag}-a${i}`, events: [Event.make("A", { i }), Event.make("A", { i })] },
                    { stream: `${tag}-b${i}`, events: [Event.make("B", { i })] }
                  ]))
              ),
            { concurrency: 8 }
          ).pipe(Effect.map((exits) => exits.filter((exit) => exit !== undefined)))
          yield* Fiber.interrupt(killer)
          assert.isAtLeast(outcomes.length, 16, "appends ran through the storm")
          const defects = outcomes.filter((exit) => Exit.isFailure(exit) && Cause.hasDies(exit.cause))
          assert.deepStrictEqual(defects.map((exit) => Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""), [])
          for (const exit of outcomes) {
            if (Exit.isFailure(exit)) {
              const error = Cause.findErrorOption(exit.cause)
              assert.strictEqual(error._tag === "Some" ? error.value._tag : "none", "StoreUnavailable")
            }
          }
          const stored = yield* Stream.runCollect(store.readAll({ filter: { types: ["A", "B"] } })).pipe(
            Effect.map((events) => events.filter((event) => event.stream.startsWith(tag)))
          )
          const ids = new Set(stored.map((event) => event.id))
          assert.strictEqual(ids.size, stored.length, "no event stored twice")
          const succeeded = outcomes.filter(Exit.isSuccess).length
          // Each answered append stored all of its three events; a failed one stored all or nothing.
          const perAppend = new Map<string, number>()
          for (const event of stored) {
            const i = event.stream.slice(tag.length + 2)
            perAppend.set(i, (perAppend.get(i) ?? 0) + 1)
          }
          for (const [i, count] of perAppend) assert.strictEqual(count, 3, `append ${i} stored ${count} of 3 events`)
          assert.isAtLeast(perAppend.size, succeeded)
        }),
      120_000
    ) // up to 30 s of appends through a reconnect storm, then the started ones finish their retries
  })
})
