// What D1 cannot do with job queues, refused typed and saying why, on a real workerd D1 database
// (Miniflare): D1 has no interactive transactions, so a job enqueued inside a unit of work cannot
// commit with it; a queue outside the store's database cannot join an append's batch. Nothing is
// written by a refused call. (What D1 does do, jobs carried in the append's batch, is the conformance
// topic in conformance.test.ts.)
import * as D1Client from "@effect/sql-d1/D1Client"
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, JobQueue, UnitOfWork } from "@strata/core"
import { D1Dialect, D1Store } from "@strata/d1"
import { SqlJobs } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { D1TestDatabase } from "./utils.ts"

const Receipts = JobQueue.make("receipts", Schema.Struct({ order: Schema.String }))

// The store and, over the same D1 client, its job queue.
const sameDatabase = Layer.unwrap(Effect.map(D1TestDatabase, ({ db }) =>
  Layer.provideMerge(
    Layer.unwrap(
      Effect.map(D1Client.D1Client, (client) => SqlJobs.layer({ dialect: D1Dialect.make(client), backend: "d1" }))
    ),
    D1Store.layer({ db })
  ))).pipe(Layer.provide(D1TestDatabase.layer))

// The store, with a queue that is not in its database.
const queueElsewhere = Layer.unwrap(
  Effect.map(D1TestDatabase, ({ db }) => Layer.merge(D1Store.layer({ db }), JobQueue.layerMemory))
).pipe(Layer.provide(D1TestDatabase.layer))

describe("D1 refuses the job features it lacks, typed, saying why", () => {
  it.layer(sameDatabase, { timeout: 60_000 })("queue in the store's database", (it) => {
    it.effect("an enqueue inside a unit of work: Unsupported (D1 has no transactions), nothing written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const stream = `order-${Math.random().toString(16).slice(2)}`
        const error = yield* Effect.flip(UnitOfWork.transaction(Effect.gen(function*() {
          yield* store.append(stream, [Event.make("OrderPlaced", {})])
          yield* JobQueue.enqueue(Receipts, { order: stream })
        })))
        assert.strictEqual(error._tag, "Unsupported")
        assert.match(error.message, /d1/i)
        assert.match(error.message, /transaction/i, `says why: ${error.message}`)
        assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, undefined)
        assert.deepStrictEqual(
          yield* JobQueue.list({ queue: Receipts.name }).pipe(
            Effect.catchTag("UnknownQueue", () => Effect.succeed([]))
          ),
          []
        )
      }))

    it.effect("an enqueue alone is one statement, and runs", () =>
      Effect.gen(function*() {
        const id = yield* JobQueue.enqueue(Receipts, { order: "o-1" })
        assert.strictEqual((yield* JobQueue.get(id)).state, "pending")
      }))
  })

  it.layer(queueElsewhere, { timeout: 60_000 })("queue outside the store's database", (it) => {
    it.effect("an append carrying jobs: Unsupported (the batch cannot reach the queue), nothing written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const stream = `order-${Math.random().toString(16).slice(2)}`
        const jobs = [JobQueue.job(Receipts, { order: stream })]
        const calls: ReadonlyArray<
          Effect.Effect<unknown, JobQueue.CarryError, EventStore.EventStore | JobQueue.JobQueue | UnitOfWork.UnitOfWork>
        > = [
          JobQueue.append(stream, [Event.make("OrderPlaced", {})], { jobs }),
          JobQueue.appendMany([{ stream, events: [Event.make("OrderPlaced", {})] }], { jobs })
        ]
        for (const carried of calls) {
          const error = yield* Effect.flip(carried)
          assert.strictEqual(error._tag, "Unsupported")
          assert.match(error.message, /not in the event store's database/, `says why: ${error.message}`)
        }
        assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, undefined)
        assert.notInclude(yield* JobQueue.queues, Receipts.name)
      }))
  })
})
