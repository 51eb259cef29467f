// The one-statement append's second attempt (PgDialect `appendOne`, taken by the store's
// one-round-trip path, packages/sql/src/internal/appendOne.ts): when the statement moved nothing but
// answered with a row that passes the check (the row changed under it), the stream row is read
// afresh, and if it still passes, the statement runs once more, and only once. A race that wins that
// window cannot be produced from outside the statement, so a proxy of the SqlClient answers chosen
// append statements itself with such a row (nothing runs for them), and can run another append
// right before a chosen statement.
import { assert, layer } from "@effect/vitest"
import { Event, EventStore, ExpectedVersion } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlStore } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { appendOne, other, plan } from "./appendOne.ts"
import { PgTestDatabase } from "./utils.ts"

const unique = (prefix: string) => `${prefix}${Math.random().toString(16).slice(2, 10)}`

type Step =
  /** The statement runs as it is. */
  | undefined
  /** The statement does not run; it answers "moved nothing" with a row at `lastVersion` (one that passes). */
  | { readonly _tag: "Passes"; readonly lastVersion: bigint }
  /** Another append is committed through the store, then the statement runs. */
  | { readonly _tag: "Before"; readonly run: Effect.Effect<unknown, unknown, EventStore.EventStore> }

// Takes `steps[i]` for the i-th append statement and counts statements and re-reads.
const proxy = (
  sql: SqlClient.SqlClient,
  store: EventStore.EventStoreShape,
  steps: ReadonlyArray<Step>,
  seen = { main: 0, reread: 0 }
): SqlClient.SqlClient =>
  new Proxy(sql, {
    apply: (target, self, args: [TemplateStringsArray, ...Array<unknown>]) => {
      const statement = Reflect.apply(target, self, args)
      const text = Array.isArray(args[0]) ? args[0].join("?") : ""
      if (text.startsWith("SELECT * FROM strata_streams")) seen.reread++
      if (!text.startsWith("WITH moved AS")) return statement
      const step = steps[seen.main++]
      if (step === undefined) return statement
      if (step._tag === "Before") {
        return Effect.andThen(Effect.orDie(Effect.provideService(step.run, EventStore.EventStore, store)), statement)
      }
      return Effect.succeed([{
        base: null,
        last_position: null,
        last_version: step.lastVersion,
        deleted: false,
        tombstoned: false,
        stored: false
      }])
    }
  })

const types = (stream: string) =>
  Effect.flatMap(
    EventStore.EventStore,
    (store) => Effect.map(Stream.runCollect(store.read(stream)), (events) => events.map((event) => event.type))
  )

layer(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)), {
  timeout: "60 seconds",
  excludeTestServices: true
})("PgDialect.appendOne: the second attempt after the re-read", (it) => {
  it.effect("a re-read that still passes runs the statement once more, which appends and answers Ok", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("second-")
      yield* store.append(stream, [Event.make("Other", {})])
      const seen = { main: 0, reread: 0 }
      const proxied = proxy(sql, store, [{ _tag: "Passes", lastVersion: 0n }], seen)
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.exact(0), 2))
      const read = yield* Stream.runCollect(store.read(stream))
      assert.deepStrictEqual(outcome, { _tag: "Ok", lastVersion: 2n, position: read[2].position })
      assert.deepStrictEqual(read.map((event) => [event.type, event.version]), [
        ["Other", 0n],
        ["Mine", 1n],
        ["Mine", 2n]
      ])
      assert.deepStrictEqual(seen, { main: 2, reread: 1 })
    }))

  it.effect("the second attempt on a new stream (noStream) appends at version 0", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("second-")
      const seen = { main: 0, reread: 0 }
      const proxied = proxy(sql, store, [{ _tag: "Passes", lastVersion: -1n }], seen)
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.noStream))
      const read = yield* Stream.runCollect(store.read(stream))
      assert.deepStrictEqual(outcome, { _tag: "Ok", lastVersion: 0n, position: read[0].position })
      assert.deepStrictEqual(yield* types(stream), ["Mine"])
      assert.deepStrictEqual(seen, { main: 2, reread: 1 })
    }))

  it.effect("a second attempt that loses to another append answers its own conflict, with no replay to look for", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("second-")
      yield* store.append(stream, [Event.make("Other", {})])
      const seen = { main: 0, reread: 0 }
      const proxied = proxy(
        sql,
        store,
        [{ _tag: "Passes", lastVersion: 0n }, { _tag: "Before", run: other(stream) }],
        seen
      )
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.exact(0)))
      assert.deepStrictEqual(outcome, { _tag: "Conflict", actual: 1n, replay: false })
      assert.deepStrictEqual(yield* types(stream), ["Other", "Other"])
      assert.deepStrictEqual(seen, { main: 2, reread: 1 })
    }))

  // The store's one-round-trip path over the same proxy: what `append` gives for each second attempt.
  const storeOn = (proxied: SqlClient.SqlClient) =>
    Effect.map(
      SqlStore.make({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
        Effect.provideService(SqlClient.SqlClient, proxied)
      ),
      ({ eventStore }) => eventStore
    )

  it.effect("through the store: the second attempt's Ok is the append's result, its conflict a WrongExpectedVersion", () =>
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("second-")
      yield* store.append(stream, [Event.make("Other", {})])
      const seen = { main: 0, reread: 0 }
      const steps: ReadonlyArray<Step> = [
        { _tag: "Passes", lastVersion: 0n },
        undefined,
        { _tag: "Passes", lastVersion: 1n },
        { _tag: "Before", run: other(stream) }
      ]
      const proxied = yield* storeOn(proxy(sql, store, steps, seen))
      const result = yield* proxied.append(stream, [Event.make("Mine", {})], { expected: ExpectedVersion.exact(0) })
      const read = yield* Stream.runCollect(store.read(stream))
      assert.deepStrictEqual(result, { stream, nextExpectedVersion: 1n, position: read[1].position })
      assert.deepStrictEqual(seen, { main: 2, reread: 1 })
      const error = yield* Effect.flip(
        proxied.append(stream, [Event.make("Mine", {})], { expected: ExpectedVersion.exact(1) })
      )
      assert.strictEqual(error._tag, "WrongExpectedVersion")
      assert.strictEqual(error._tag === "WrongExpectedVersion" ? error.actual : undefined, 2n)
      assert.deepStrictEqual(seen, { main: 4, reread: 2 })
      assert.deepStrictEqual(yield* types(stream), ["Other", "Mine", "Other"])
    })))

  it.effect("through the store: a Raced second attempt is a retryable StoreUnavailable and writes nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("second-")
      yield* store.append(stream, [Event.make("Other", {})])
      const passes = { _tag: "Passes", lastVersion: 0n } as const
      const proxied = yield* storeOn(proxy(sql, store, [passes, passes]))
      const error = yield* Effect.flip(
        proxied.append(stream, [Event.make("Mine", {})], { expected: ExpectedVersion.exact(0) })
      )
      assert.strictEqual(error._tag, "StoreUnavailable")
      assert.strictEqual(error._tag === "StoreUnavailable" ? error.reason : undefined, "ConcurrentWrite")
      assert.deepStrictEqual(yield* types(stream), ["Other"])
    })))

  it.effect("a re-read that fails the check is the conflict: no second attempt", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("second-")
      yield* store.append(stream, [Event.make("Other", {}), Event.make("Other", {})])
      const seen = { main: 0, reread: 0 }
      const proxied = proxy(sql, store, [{ _tag: "Passes", lastVersion: 0n }], seen)
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.exact(0)))
      assert.deepStrictEqual(outcome, { _tag: "Conflict", actual: 1n })
      assert.deepStrictEqual(seen, { main: 1, reread: 1 })
    }))

  it.effect("a second attempt that again moved nothing on a passing row is Raced: no third attempt, nothing written", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("second-")
      yield* store.append(stream, [Event.make("Other", {})])
      const seen = { main: 0, reread: 0 }
      const passes = { _tag: "Passes", lastVersion: 0n } as const
      const proxied = proxy(sql, store, [passes, passes, passes], seen)
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.exact(0)))
      assert.deepStrictEqual(outcome, { _tag: "Raced" })
      assert.deepStrictEqual(seen, { main: 2, reread: 2 })
      assert.deepStrictEqual(yield* types(stream), ["Other"])
    }))
})
