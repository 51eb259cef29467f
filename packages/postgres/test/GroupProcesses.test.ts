// A consumer group of OS processes on one PostgreSQL database: members SIGKILLed mid-batch and
// restarted, a member added while running; every event is handled exactly once overall, each
// stream in order.
import { assert, it } from "@effect/vitest"
import { PgStore } from "@strata/postgres"
import { killAndJoinScenario } from "@strata/test-utils"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

it.live("consumer group across processes on PostgreSQL: exactly once, in stream order", () =>
  Effect.gen(function*() {
    const db = yield* PgTestDatabase
    const result = yield* killAndJoinScenario({ backend: "postgres", target: db.connectionString })
    const context = result.outputs.join("\n").slice(-6_000)
    assert.strictEqual(result.reached.events, result.total, `every event handled\n${context}`)
    assert.strictEqual(result.final.rows, result.total, `no event handled twice\n${context}`)
    assert.deepStrictEqual(result.outOfOrder, [], "every stream handled in order")
    assert.isAtLeast(Object.keys(result.byMember).length, 3, `the work was shared: ${JSON.stringify(result.byMember)}`)
  }).pipe(
    Effect.provide(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient))),
    Effect.scoped
  ), { timeout: 120_000 })
