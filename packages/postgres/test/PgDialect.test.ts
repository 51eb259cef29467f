// The one-statement append's conflict answer, driven deterministically: a proxy of the SqlClient runs
// another append (committed, through the store) right before chosen statements of `appendOne` and
// counts them, and a transaction held open on another connection makes the statement wait for a
// concurrent append. A failed check answers with the stream's version in the same statement, also
// when it waited for a concurrent append (the answer reads with a fresh snapshot); only a row that
// passes the check again by then is read once more.
import { assert, layer } from "@effect/vitest"
import { Event, EventStore, ExpectedVersion } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { appendOne, other, plan } from "./appendOne.ts"
import { PgTestDatabase } from "./utils.ts"

const unique = (prefix: string) => `${prefix}${Math.random().toString(16).slice(2, 10)}`

type Hook = Effect.Effect<void, unknown, EventStore.EventStore>

// Runs `before.main[i]` before the i-th append statement and `before.reread[i]` before the i-th re-read.
const intercepted = (
  sql: SqlClient.SqlClient,
  store: EventStore.EventStoreShape,
  before: { readonly main: ReadonlyArray<Hook | undefined>; readonly reread: ReadonlyArray<Hook | undefined> },
  seen = { main: 0, reread: 0 }
): SqlClient.SqlClient => {
  return new Proxy(sql, {
    apply: (target, self, args: [TemplateStringsArray, ...Array<unknown>]) => {
      const statement = Reflect.apply(target, self, args)
      const text = Array.isArray(args[0]) ? args[0].join("?") : ""
      const kind = text.startsWith("WITH moved AS")
        ? "main"
        : text.startsWith("SELECT * FROM strata_streams")
        ? "reread"
        : undefined
      if (kind === undefined) return statement
      const hook = before[kind][seen[kind]++]
      return hook === undefined
        ? statement
        : Effect.andThen(Effect.orDie(Effect.provideService(hook, EventStore.EventStore, store)), statement)
    }
  })
}

layer(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)), {
  timeout: "60 seconds",
  excludeTestServices: true
})("PgDialect.appendOne", (it) => {
  it.effect("a stream moved before the statement is a conflict naming its version, in one round trip", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("race-")
      yield* store.append(stream, [Event.make("Other", {})])
      const seen = { main: 0, reread: 0 }
      const proxied = intercepted(sql, store, { main: [other(stream)], reread: [] }, seen)
      const planned = yield* plan(stream, ExpectedVersion.exact(0))
      const outcome = yield* appendOne(proxied, planned)
      // None of its ids is stored, and the row did not move after the snapshot: no replay to look for.
      assert.deepStrictEqual(outcome, { _tag: "Conflict", actual: 1n, replay: false })
      assert.deepStrictEqual(seen, { main: 1, reread: 0 })
      // The same events once stored: the conflict may be their replay, and says so.
      yield* store.append(stream, planned.events.map((event) => ({ id: event.id, type: event.type, data: {} })))
      assert.deepStrictEqual(yield* appendOne(sql, planned), { _tag: "Conflict", actual: 2n, replay: true })
    }))

  // Another connection appends `events` to `stream` in a transaction and holds it open until released.
  const held = (stream: string, expected: ExpectedVersion.ExpectedVersion) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const appended = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const fiber = yield* sql.withTransaction(Effect.gen(function*() {
        yield* store.append(stream, [Event.make("Other", {})], { expected })
        yield* Deferred.succeed(appended, undefined)
        yield* Deferred.await(release)
      })).pipe(Effect.forkChild)
      yield* Deferred.await(appended)
      return { commit: Effect.andThen(Deferred.succeed(release, undefined), Fiber.join(fiber)) }
    })

  // Until some statement waits for a lock (the appendOne under test, on a transaction held above).
  const untilWaiting = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (;;) {
      const [row] = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM pg_locks WHERE NOT granted`
      if (Number(row.n) > 0) return
      yield* Effect.sleep("20 millis")
    }
  })

  it.effect("an append that waited for a concurrent one answers with the version it left, in one round trip", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("race-")
      yield* store.append(stream, [Event.make("Other", {})])
      const holder = yield* held(stream, ExpectedVersion.exact(0))
      const seen = { main: 0, reread: 0 }
      const proxied = intercepted(sql, store, { main: [], reread: [] }, seen)
      const mine = yield* Effect.forkChild(appendOne(proxied, yield* plan(stream, ExpectedVersion.exact(0))))
      yield* untilWaiting
      yield* holder.commit
      // The statement's snapshot still shows version 0 (which passes); the answer shows the committed 1.
      assert.deepStrictEqual(yield* Fiber.join(mine), { _tag: "Conflict", actual: 1n, replay: false })
      assert.deepStrictEqual(seen, { main: 1, reread: 0 })
      const types = (yield* Stream.runCollect(store.read(stream))).map((event) => event.type)
      assert.deepStrictEqual(types, ["Other", "Other"])
    }))

  it.effect("a stream created by a transaction the statement could not see answers with its version", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("race-")
      const holder = yield* held(stream, ExpectedVersion.noStream)
      const seen = { main: 0, reread: 0 }
      const proxied = intercepted(sql, store, { main: [], reread: [] }, seen)
      const mine = yield* Effect.forkChild(appendOne(proxied, yield* plan(stream, ExpectedVersion.noStream)))
      yield* untilWaiting
      yield* holder.commit
      // No row in the statement's snapshot (which would pass NoStream); the answer shows the committed one.
      assert.deepStrictEqual(yield* Fiber.join(mine), { _tag: "Conflict", actual: 0n, replay: false })
      assert.deepStrictEqual(seen, { main: 1, reread: 0 })
    }))

  // The row that passes again on the re-read (a check that failed at the move and passes at the
  // answer, both in one statement) cannot be produced deterministically from outside the statement
  // any more; the branch stays as the safety net it is.
  it.effect("an append that waited for its own earlier attempt answers that its ids are stored (a replay)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("race-")
      const planned = yield* plan(stream, ExpectedVersion.noStream)
      // The earlier attempt (say, one whose reply was lost) is still in flight on another connection.
      const appended = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const earlier = yield* sql.withTransaction(Effect.gen(function*() {
        yield* store.append(stream, planned.events.map((event) => ({ id: event.id, type: event.type, data: {} })), {
          expected: ExpectedVersion.noStream
        })
        yield* Deferred.succeed(appended, undefined)
        yield* Deferred.await(release)
      })).pipe(Effect.forkChild)
      yield* Deferred.await(appended)
      const mine = yield* Effect.forkChild(appendOne(sql, planned))
      yield* untilWaiting
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(earlier)
      // The statement's snapshot holds none of the ids; the answer's does, so the store looks for a replay.
      assert.deepStrictEqual(yield* Fiber.join(mine), { _tag: "Conflict", actual: 0n, replay: true })
      // Through the store, the same append is recognised as that replay and succeeds with its result.
      const result = yield* store.append(
        stream,
        planned.events.map((event) => ({ id: event.id, type: event.type, data: {} })),
        { expected: ExpectedVersion.noStream }
      )
      assert.strictEqual(result.nextExpectedVersion, 0n)
      assert.strictEqual((yield* Stream.runCollect(store.read(stream))).length, 1)
    }))
})
