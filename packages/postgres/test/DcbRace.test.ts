/**
 * DCB races on PostgreSQL (see @strata/conformance dcbRaceSuite): rounds of each two-writer
 * interleaving with random delays inside the transactions, the 16-writer enrolment, and the locking
 * design itself: appends on disjoint tags do not wait for each other, appends on a shared tag do.
 * 100 rounds by default; STRATA_DCB_ROUNDS=1000 for the long run.
 */
import { assert, layer } from "@effect/vitest"
import { dcbRaceSuite } from "@strata/conformance"
import { EventStore, UnitOfWork } from "@strata/core"
import { Backend } from "@strata/core/backend"
import { PgStore } from "@strata/postgres"
import { spanNames } from "@strata/test-utils/Spans"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { PgTestDatabase } from "./utils.ts"

const StoreLayer = PgStore.layerFromClient({}).pipe(Layer.provideMerge(PgTestDatabase.layerClient))

layer(StoreLayer, { timeout: "60 seconds", excludeTestServices: true })("postgres", (it) => {
  dcbRaceSuite(it, { rounds: Number(process.env.STRATA_DCB_ROUNDS ?? 100) })

  it.effect("an open conditional append locks its tags only: disjoint tags go on, a shared tag waits for it", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const id = Math.random().toString(16).slice(2, 10)
      const [a, b] = [`t${id}:a`, `t${id}:b`]
      const appended = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Writer 1 appends tagged a with a condition on a, then holds its transaction open.
      const holder = yield* Effect.forkChild(UnitOfWork.transaction(Effect.gen(function*() {
        yield* store.append(`t${id}-one`, [{ type: "E", data: {}, tags: [a] }], {
          condition: { failIfEventsMatch: [{ tags: [a] }] }
        })
        yield* Deferred.succeed(appended, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(appended)
      // Disjoint tag: commits while writer 1 still holds its locks (it would hang here otherwise).
      yield* store.append(`t${id}-two`, [{ type: "E", data: {}, tags: [b] }], {
        condition: { failIfEventsMatch: [{ tags: [b] }] }
      }).pipe(Effect.timeout("5 seconds"))
      // The same tag: waits for writer 1's commit, then sees its event and fails.
      const waiter = yield* Effect.forkChild(
        store.append(`t${id}-three`, [{ type: "E", data: {}, tags: [a] }], {
          condition: { failIfEventsMatch: [{ tags: [a] }] }
        }).pipe(Effect.result)
      )
      yield* Effect.sleep("300 millis")
      assert.isUndefined(waiter.pollUnsafe(), "an append on the shared tag must wait for the open one")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      const outcome = yield* Fiber.join(waiter)
      assert.strictEqual(outcome._tag === "Failure" && outcome.failure._tag, "AppendConditionFailed")
      const withA = yield* Stream.runCollect(store.readAll({ query: [{ tags: [a] }] }))
      assert.deepStrictEqual(withA.map((event) => event.stream), [`t${id}-one`])
    }))

  it.effect("a decision's read (Backend.readQuery) never returns an event above an append still in flight", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const backend = yield* Backend.Backend
      const readQuery = backend.readQuery!
      const id = Math.random().toString(16).slice(2, 10)
      const [a, b] = [`t${id}:a`, `t${id}:b`]
      const query = [{ tags: [a] }, { tags: [b] }]
      const appended = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Writer 1 takes a position for its event tagged a and holds its transaction open.
      const holder = yield* Effect.forkChild(UnitOfWork.transaction(Effect.gen(function*() {
        yield* store.append(`t${id}-one`, [{ type: "E", data: {}, tags: [a] }])
        yield* Deferred.succeed(appended, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(appended)
      // Writer 2 (a disjoint tag) commits a later position meanwhile.
      const later = yield* store.append(`t${id}-two`, [{ type: "E", data: {}, tags: [b] }])
      // The read waits for the horizon (at most ~200 ms), then stops below writer 1's position: without
      // the horizon it would return writer 2's event alone, and a decision would fold past writer 1's.
      const during = yield* readQuery(query)
      assert.deepStrictEqual(during, [])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      const after = yield* readQuery(query)
      assert.deepStrictEqual(after.map((event) => event.stream), [`t${id}-one`, `t${id}-two`])
      assert.strictEqual(after[1].position, later.position)
    }))

  it.effect("a condition with an item without tags waits for a plain append in flight, then sees it", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const id = Math.random().toString(16).slice(2, 10)
      const type = `T${id}.Registered`
      const appended = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // A plain append (no tags) of the type, held open in a transaction.
      const holder = yield* Effect.forkChild(UnitOfWork.transaction(Effect.gen(function*() {
        yield* store.append(`t${id}-plain`, [{ type, data: {} }])
        yield* Deferred.succeed(appended, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(appended)
      const waiter = yield* Effect.forkChild(
        store.append(`t${id}-cond`, [{ type, data: {} }], { condition: { failIfEventsMatch: [{ types: [type] }] } })
          .pipe(Effect.result)
      )
      yield* Effect.sleep("300 millis")
      assert.isUndefined(waiter.pollUnsafe(), "the tagless condition must wait for the append in flight")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      const outcome = yield* Fiber.join(waiter)
      assert.strictEqual(outcome._tag === "Failure" && outcome.failure._tag, "AppendConditionFailed")
    }))

  it.effect("a query read sees the reader's own last append while an earlier append is still in flight", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const id = Math.random().toString(16).slice(2, 10)
      const tag = `t${id}:mine`
      const appended = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Another writer's append takes a position, then stays uncommitted for a moment.
      const holder = yield* Effect.forkChild(UnitOfWork.transaction(Effect.gen(function*() {
        yield* store.append(`t${id}-other`, [{ type: "E", data: {} }])
        yield* Deferred.succeed(appended, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(appended)
      // This writer's append commits above it; the horizon stays below the one in flight.
      const mine = yield* store.append(`t${id}-mine`, [{ type: "E", data: {}, tags: [tag] }])
      yield* Effect.forkChild(Effect.andThen(Effect.sleep("50 millis"), Deferred.succeed(release, undefined)))
      // Without waiting for the horizon to pass its own event, the read would miss it, and a decision
      // on it would conflict with itself (a false conflict).
      const read = yield* Stream.runCollect(store.readAll({ query: [{ tags: [tag] }] }))
      assert.deepStrictEqual(read.map((event) => event.position), [mine.position])
      yield* Fiber.join(holder)
    }))

  it.effect("a single-stream append with tags and a tagged condition is one statement; plain appends are unchanged", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const id = Math.random().toString(16).slice(2, 10)
      // Statement spans: @effect/sql-pg 4.1 names them after the database (4.0: after the system, "postgres");
      // everything else here is a Strata span, the transaction span or a transaction control's span.
      const statements = (names: ReadonlyArray<string>) =>
        names.filter((name) =>
          !name.startsWith("strata.") && name !== "sql.transaction" &&
          !/^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/.test(name)
        ).length
      const plain = yield* spanNames(store.append(`t${id}-a`, [{ type: "E", data: {} }]))
      const tagged = yield* spanNames(
        store.append(`t${id}-b`, [{ type: "E", data: {}, tags: [`t${id}:x`] }], {
          condition: { failIfEventsMatch: [{ tags: [`t${id}:x`] }] }
        })
      )
      const tagless = yield* spanNames(
        store.append(`t${id}-c`, [{ type: "E", data: {} }], {
          condition: { failIfEventsMatch: [{ types: [`T${id}.None`] }] }
        })
      )
      assert.notInclude(plain, "sql.transaction")
      assert.strictEqual(statements(plain), 1, plain.join(", "))
      assert.notInclude(tagged, "sql.transaction")
      assert.strictEqual(statements(tagged), 1, tagged.join(", "))
      // An item without tags needs the table lock: a transaction.
      assert.include(tagless, "sql.transaction")
    }))

  it.effect("one-statement appends racing on items with types and several tags: one wins each round", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const id = Math.random().toString(16).slice(2, 10)
      for (let round = 0; round < 30; round++) {
        const [course, student] = [`c${id}:${round}`, `s${id}:${round}`]
        // The check's branches: an item with types and a second tag, an item with types only.
        const q: EventStore.Query = [
          { types: ["Enrolled"], tags: [student, course] },
          { types: ["Closed"], tags: [course] }
        ]
        const defined = yield* store.append(`c${id}-${round}`, [{ type: "Defined", data: {}, tags: [course] }])
        // Both decided on the same read (after `defined`), then append at once, outside transactions.
        const attempt = (writer: number) =>
          store.append(`e${id}-${round}-${writer}`, [{ type: "Enrolled", data: {}, tags: [course, student] }], {
            condition: { failIfEventsMatch: q, after: defined.position }
          }).pipe(Effect.result)
        const outcomes = yield* Effect.all([attempt(0), attempt(1)], { concurrency: 2 })
        const won = outcomes.flatMap((outcome) => outcome._tag === "Success" ? [outcome.success] : [])
        const lost = outcomes.flatMap((outcome) => outcome._tag === "Failure" ? [outcome.failure] : [])
        assert.lengthOf(won, 1, `round ${round}`)
        assert.lengthOf(lost, 1, `round ${round}`)
        assert.strictEqual(lost[0]._tag, "AppendConditionFailed")
        if (lost[0]._tag === "AppendConditionFailed") assert.strictEqual(lost[0].position, won[0].position)
      }
    }))
})
