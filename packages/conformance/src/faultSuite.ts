/**
 * Faults, for backends built on an effect/sql `SqlClient`: a proxy of the client fails a write (an
 * append, a multi-stream append, a put with events, a consumer's checkpoint commit) at
 * each step (before it is sent, after it ran but before COMMIT, after COMMIT but before the reply),
 * and every case asserts a typed error or the original result, never a defect; nothing partial; and
 * after a retry (by hand, or by the retry layer), the original result and every event stored exactly
 * once.
 *
 * The proxy intercepts `withTransaction` (multi-statement writes) and, for single-statement
 * appends (PostgreSQL's one-statement path), the statement whose text starts with `WITH moved AS`.
 *
 * @since 0.1.0
 */
import { assert, describe, layer } from "@effect/vitest"
import { Consumer, DocumentStore, Event, EventStore, ExpectedVersion, Retry, Store } from "@strata/core"
import type { Backend } from "@strata/core/backend"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import { names } from "./internal/fixtures.ts"
import { resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Where a fault strikes a write.
 *
 * @category models
 * @since 0.1.0
 */
export type FaultPoint = "beforeSend" | "beforeCommit" | "afterCommit" | "afterCommitAsDefects"

const lost = (point: FaultPoint) =>
  new SqlError.SqlError({
    reason: new SqlError.ConnectionError({ cause: new Error(`fault injected: connection lost (${point})`) })
  })

/** A SqlClient that fails the next `state.remaining` writes at `state.point`. */
const faulty = (
  sql: SqlClient.SqlClient,
  state: { point: FaultPoint; remaining: number }
): SqlClient.SqlClient => {
  const strike = () => state.remaining > 0 ? (state.remaining--, true) : false
  return new Proxy(sql, {
    apply: (target, self, args: [TemplateStringsArray, ...Array<unknown>]) => {
      const statement = Reflect.apply(target, self, args)
      const text = Array.isArray(args[0]) ? args[0][0] : ""
      if (!text.trimStart().startsWith("WITH moved AS") || !strike()) return statement
      // A single statement commits by itself: "before COMMIT" is the same as "before it is sent", and
      // there is no transaction to clean up.
      return state.point === "afterCommit" || state.point === "afterCommitAsDefects"
        ? Effect.andThen(statement, Effect.fail(lost(state.point)))
        : Effect.fail(lost(state.point))
    },
    get: (target, property, receiver) =>
      property === "withTransaction"
        ? <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.suspend(() => {
            if (!strike()) return target.withTransaction(effect)
            switch (state.point) {
              case "beforeSend":
                return Effect.fail(lost(state.point))
              case "beforeCommit":
                return target.withTransaction(Effect.andThen(effect, Effect.fail(lost(state.point))))
              case "afterCommit":
                return Effect.andThen(target.withTransaction(effect), Effect.fail(lost(state.point)))
              case "afterCommitAsDefects":
                return Effect.andThen(target.withTransaction(effect), Effect.failCause(lostAsDefects(state.point)))
            }
          })
        : Reflect.get(target, property, receiver)
  })
}

/**
 * Builds a store over the SqlClient in context (the schema already exists).
 *
 * @category models
 * @since 0.1.0
 */
export type MakeStore = Effect.Effect<Backend.Backend, unknown, SqlClient.SqlClient | Scope.Scope>

const points: ReadonlyArray<FaultPoint> = ["beforeSend", "beforeCommit", "afterCommit", "afterCommitAsDefects"]

// What effect/sql reports when a COMMIT's reply is lost and its cleanup fails on the dead connection:
// every failure of both turned into defects (seen under pg_terminate_backend: a UniqueViolation beside
// the ConnectionError).
const lostAsDefects = (point: FaultPoint) =>
  Cause.combine(
    Cause.die(
      new SqlError.SqlError({
        reason: new SqlError.UniqueViolation({
          cause: new Error("fault injected"),
          constraint: "strata_events_event_id_key"
        })
      })
    ),
    Cause.die(lost(point))
  )

/**
 * Registers the fault topic. `clientLayer` provides the backend's SqlClient with its schema
 * migrated (e.g. the backend's store layer, merged with its client); `makeStore` builds a store over
 * whichever SqlClient is in context.
 *
 * @category suites
 * @since 0.1.0
 */
export const faultSuite = (
  name: string,
  clientLayer: Layer.Layer<SqlClient.SqlClient, unknown>,
  makeStore: MakeStore,
  options?: SuiteOptions
): void =>
  layer(clientLayer, { timeout: resolve(options).timeout, excludeTestServices: true })(
    `Strata conformance, faults (${name})`,
    (it) => {
      const setup = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const state = { point: "beforeSend" as FaultPoint, remaining: 0 }
        const backend = yield* Effect.provideService(makeStore, SqlClient.SqlClient, faulty(sql, state))
        // The services core derives from the record, undecorated but for spans: every fault shows.
        const services = yield* Store.make(backend, { retry: false, metrics: false })
        const store = {
          eventStore: Context.get(services, EventStore.EventStore),
          documentStore: Context.get(services, DocumentStore.DocumentStore),
          checkpoints: Context.get(services, Consumer.Checkpoints)
        }
        return { state, store, retrying: Retry.withRetry(store.eventStore, Schedule.recurs(3)) }
      })
      const readAllOf = (store: EventStore.EventStoreShape, category: string) =>
        Stream.runCollect(store.readAll({ filter: { categories: [category] } }))

      for (const point of points) {
        describe(point, () => {
          it.effect(`a single-stream append failing ${point} and retried is written exactly once`, () =>
            Effect.gen(function*() {
              const { retrying, state, store } = yield* setup
              const n = names()
              state.point = point
              state.remaining = 1
              const result = yield* retrying.append(n.stream(), [Event.make(n.type("E"), { i: 0 })], {
                expected: ExpectedVersion.noStream
              })
              assert.strictEqual(state.remaining, 0, "the fault struck")
              assert.strictEqual(result.nextExpectedVersion, 0n)
              const all = yield* readAllOf(store.eventStore, n.category)
              assert.strictEqual(all.length, 1)
              assert.strictEqual(result.position, all[0].position)
            }))

          it.effect(`appendMany failing ${point} and retried returns each stream's result, every event once`, () =>
            Effect.gen(function*() {
              const { retrying, state, store } = yield* setup
              const n = names()
              state.point = point
              state.remaining = 1
              const results = yield* retrying.appendMany([
                { stream: n.stream("a"), events: [Event.make(n.type("A"), {})], expected: ExpectedVersion.noStream },
                {
                  stream: n.stream("b"),
                  events: [Event.make(n.type("B"), {}), Event.make(n.type("B"), {})],
                  expected: ExpectedVersion.noStream
                }
              ])
              assert.strictEqual(state.remaining, 0, "the fault struck")
              assert.deepStrictEqual(results.map((r) => r.nextExpectedVersion), [0n, 1n])
              const all = yield* readAllOf(store.eventStore, n.category)
              assert.deepStrictEqual(all.map((e) => e.stream), [n.stream("a"), n.stream("b"), n.stream("b")])
            }))

          it.effect(`a consumer whose checkpoint commit fails ${point} restarts and applies each event once`, () =>
            Effect.gen(function*() {
              const { state, store } = yield* setup
              if (store.checkpoints === undefined) return
              const n = names()
              const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
              let last = 0n
              for (let i = 0; i < 3; i++) {
                last = (yield* store.eventStore.append(n.stream(), [Event.make(n.type("E"), { i })])).position
              }
              state.point = point
              state.remaining = 1
              // Each event's document is written with expected "any": a second application makes version 2.
              const consumer = yield* Consumer.run(n.checkpoint(), {
                filter: { categories: [n.category] },
                retry: Schedule.spaced("20 millis"),
                handler: (event) => Effect.asVoid(store.documentStore.put(collection, event.id, { seen: true }))
              }).pipe(
                Effect.provideService(EventStore.EventStore, store.eventStore),
                Effect.provideService(Consumer.Checkpoints, store.checkpoints),
                Effect.forkChild
              )
              for (let i = 0; i < 500; i++) {
                const at = yield* store.eventStore.loadCheckpoint(n.checkpoint())
                if (Option.isSome(at) && at.value === last) break
                yield* Effect.sleep("10 millis")
              }
              yield* Fiber.interrupt(consumer)
              assert.strictEqual(state.remaining, 0, "the fault struck")
              assert.deepStrictEqual(yield* store.eventStore.loadCheckpoint(n.checkpoint()), Option.some(last))
              const documents = yield* Stream.runCollect(store.documentStore.find(collection))
              assert.deepStrictEqual(documents.map((d) => d.version), [1n, 1n, 1n], "each event applied once")
            }))

          it.effect(`a document put with events failing ${point} is a typed error or done once, never partial`, () =>
            Effect.gen(function*() {
              const { state, store } = yield* setup
              const n = names()
              const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
              const put = store.documentStore.put(collection, "d", { ok: 1 }, {
                expected: "missing",
                events: [{ stream: n.stream(), events: [Event.make(n.type("E"), {})] }]
              })
              state.point = point
              state.remaining = 1
              const first = yield* Effect.exit(put)
              assert.strictEqual(state.remaining, 0, "the fault struck")
              if (Exit.isFailure(first)) {
                const error = first.cause.reasons.find((reason) => reason._tag === "Fail")
                assert.isDefined(error, "a typed failure, not a defect")
              }
              // Retried by hand: either the first attempt committed (the retry is a replay, answered with
              // the original result) or it did not (the retry writes it). Either way: one document at
              // version 1, one event.
              const second = yield* put
              if (Exit.isSuccess(first)) assert.deepStrictEqual(second, first.value)
              assert.strictEqual(second.version, 1n)
              const doc = yield* store.documentStore.get(collection, "d")
              assert.deepStrictEqual(Option.map(doc, (d) => d.version), Option.some(1n))
              assert.strictEqual((yield* readAllOf(store.eventStore, n.category)).length, 1)
            }))

          it.effect(`a document put with events failing ${point}, retried by the retry layer, returns the original result`, () =>
            Effect.gen(function*() {
              const { state, store } = yield* setup
              const retrying = Retry.withDocumentRetry(store.documentStore, Schedule.recurs(3))
              const n = names()
              const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
              for (const expected of ["any", "missing"] as const) {
                const id = `d-${expected}`
                state.point = point
                state.remaining = 1
                // No ids of its own: the retry layer gives each event one, kept across attempts.
                const result = yield* retrying.put(collection, id, { ok: 1 }, {
                  expected,
                  events: [{
                    stream: n.stream(id),
                    events: [{ type: n.type("E"), data: { i: 0 } }, { type: n.type("E"), data: { i: 1 } }],
                    expected: expected === "any" ? ExpectedVersion.any : ExpectedVersion.noStream
                  }]
                })
                assert.strictEqual(state.remaining, 0, "the fault struck")
                assert.strictEqual(result.version, 1n)
                assert.deepStrictEqual(result.appended.map((r) => r.nextExpectedVersion), [1n])
                const doc = yield* store.documentStore.get(collection, id)
                assert.deepStrictEqual(Option.map(doc, (d) => d.version), Option.some(1n))
                const written = yield* Stream.runCollect(store.eventStore.read(n.stream(id)))
                assert.strictEqual(written.length, 2, "each event stored once")
                assert.strictEqual(result.appended[0].position, written[1].position)
              }
            }))
        })
      }
    }
  )
