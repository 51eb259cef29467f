/**
 * A topic for backends that expose an effect/sql `SqlClient` with transactions (PostgreSQL, SQLite):
 * a consumer's projection, written through the store's SqlClient in its handler, is updated
 * exactly once per event across a crash in the middle of a checkpoint batch, because the checkpoint
 * commits in the same transaction as the handler's SQL.
 *
 * @since 0.1.0
 */
import { assert, layer, type Vitest } from "@effect/vitest"
import { Consumer, Event, EventStore } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import { resolve, type Services, type SuiteOptions } from "./SuiteOptions.ts"

// The handler writes a projection row through the store's SqlClient; the consumer is interrupted
// in the middle of a checkpoint batch and restarted; every event must be counted exactly once.
// `checkpointEvery: 10` crashes in the third batch (two committed); the defaults crash inside the one
// batch that holds the whole catch-up page (nothing committed).
const projectionIsExactlyOnceAcrossACrash = (checkpointEvery: number | undefined) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const sql = yield* SqlClient.SqlClient
    const tag = `once${Math.random().toString(16).slice(2, 10)}`
    const table = `projection_${tag}`
    yield* sql.unsafe(`CREATE TABLE ${table} (event_id TEXT PRIMARY KEY, seen INTEGER NOT NULL)`)
    const total = 50
    for (let i = 0; i < total; i++) yield* store.append(`${tag}-${i % 5}`, [Event.make("Counted", { i })])
    const consumer = (crashAt: number | undefined, crashed: Deferred.Deferred<void>) => {
      let handled = 0
      return Consumer.run(`projection-${tag}`, {
        filter: { categories: [tag] },
        checkpointEvery,
        // With `checkpointEvery`, batches sized by events alone: at the default 100 ms a loaded machine's
        // slow batch shrinks the next one to fit (16 committed instead of 20 was seen), and the case counts
        // batch boundaries. The defaults' case crashes in its first batch, which no pace has sized yet.
        checkpointInterval: checkpointEvery === undefined ? undefined : "1 hour",
        handler: (event) =>
          Effect.gen(function*() {
            // Upsert that counts: a second delivery of the same event would make seen = 2.
            yield* sql`INSERT INTO ${sql.literal(table)} (event_id, seen) VALUES (${event.id}, 1)
            ON CONFLICT (event_id) DO UPDATE SET seen = ${sql.literal(table)}.seen + 1`
            handled++
            if (handled === crashAt) {
              yield* Deferred.succeed(crashed, undefined)
              return yield* Effect.never
            }
          })
      })
    }
    // Crash in the middle of a batch: event 25 is written, its batch not yet committed.
    const crashed = yield* Deferred.make<void>()
    const first = yield* Effect.forkChild(consumer(25, crashed))
    yield* Deferred.await(crashed)
    yield* Fiber.interrupt(first)
    const afterCrash = yield* store.loadCheckpoint(`projection-${tag}`)
    const committed = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM ${sql.literal(table)}`
    const visible = checkpointEvery === undefined ? 0 : 20
    assert.strictEqual(Number(committed[0].n), visible, "only the committed batches are visible")
    assert.strictEqual(Option.isSome(afterCrash), visible > 0)

    const restarted = yield* Effect.forkChild(consumer(undefined, yield* Deferred.make<void>()))
    for (;;) {
      const rows = yield* sql<{ n: unknown; dup: unknown }>`SELECT count(*) AS n, coalesce(max(seen), 0) AS dup FROM ${
        sql.literal(table)
      }`
      if (Number(rows[0].n) >= total) {
        assert.strictEqual(Number(rows[0].n), total)
        assert.strictEqual(Number(rows[0].dup), 1, "no event was applied twice")
        break
      }
      yield* Effect.sleep("20 millis")
    }
    yield* Fiber.interrupt(restarted)
  })

/**
 * Registers the exactly-once test with `it`, whose store also provides its `SqlClient` (`suite` does
 * this where the layer hands its SqlClient out and commits in transactions).
 *
 * @category suites
 * @since 0.1.0
 */
export const exactlyOnceTopic = (it: Vitest.MethodsNonLive<Services | SqlClient.SqlClient>): void => {
  it.effect("a consumer's projection is exactly-once across a crash in the middle of a batch", () =>
    projectionIsExactlyOnceAcrossACrash(10))
  it.effect("with the defaults, a crash in the middle of a batch commits none of it; the restart applies each event once", () =>
    projectionIsExactlyOnceAcrossACrash(undefined))
}

/**
 * Registers the exactly-once topic for a backend whose layer also provides its `SqlClient`.
 *
 * @example
 * ```ts
 * import { exactlyOnceSuite } from "@strata/conformance"
 * import { SqliteStore } from "@strata/sqlite"
 *
 * exactlyOnceSuite("sqlite", SqliteStore.layer({ filename: ":memory:" }))
 * ```
 *
 * @category suites
 * @since 0.1.0
 */
export const exactlyOnceSuite = (
  name: string,
  storeLayer: Layer.Layer<Services | SqlClient.SqlClient, unknown>,
  options?: SuiteOptions
): void =>
  layer(storeLayer, { timeout: resolve(options).timeout, excludeTestServices: true })(
    `Strata conformance, exactly-once projections (${name})`,
    exactlyOnceTopic
  )
