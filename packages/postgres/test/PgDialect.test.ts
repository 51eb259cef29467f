// The one-statement append's second round, driven deterministically: a proxy of the SqlClient runs
// another append (committed, through the store) right before chosen statements of `appendOne`, so
// the stream moves exactly between its check and its re-read.
import { assert, layer } from "@effect/vitest"
import { Event, EventStore, ExpectedVersion } from "@strata/core"
import { AppendPlan } from "@strata/core/backend"
import { PgDialect, PgStore } from "@strata/postgres"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { PgTestDatabase } from "./utils.ts"

const unique = (prefix: string) => `${prefix}${Math.random().toString(16).slice(2, 10)}`

type Hook = Effect.Effect<void, unknown, EventStore.EventStore>

// Runs `before.main[i]` before the i-th append statement and `before.reread[i]` before the i-th re-read.
const intercepted = (
  sql: SqlClient.SqlClient,
  store: EventStore.EventStoreShape,
  before: { readonly main: ReadonlyArray<Hook | undefined>; readonly reread: ReadonlyArray<Hook | undefined> }
): SqlClient.SqlClient => {
  const seen = { main: 0, reread: 0 }
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

const plan = (stream: string, expected: ExpectedVersion.ExpectedVersion) =>
  Effect.map(
    AppendPlan.one({ stream, events: [Event.make("Mine", {})], expected }, 1024 * 1024),
    (planned) => ({
      stream,
      category: stream.split("-")[0],
      expected,
      events: planned.prepared,
      createdAt: new Date()
    })
  )

const appendOne = PgDialect.dialect.write._tag === "Transactional" ? PgDialect.dialect.write.appendOne! : undefined!

const other = (stream: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.append(stream, [Event.make("Other", {})]))

layer(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)), {
  timeout: "60 seconds",
  excludeTestServices: true
})("PgDialect.appendOne", (it) => {
  it.effect("a stream created between the check and the re-read is appended to on the second round", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("race-")
      const proxied = intercepted(sql, store, { main: [], reread: [other(stream)] })
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.streamExists))
      assert.strictEqual(outcome._tag, "Ok")
      assert.strictEqual(outcome._tag === "Ok" ? outcome.lastVersion : undefined, 1n)
      const types = (yield* Stream.runCollect(store.read(stream))).map((event) => event.type)
      assert.deepStrictEqual(types, ["Other", "Mine"])
    }))

  it.effect("a check that fails and passes again on both rounds is Raced (retryable), never a conflict naming a passing state", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("race-")
      // Round 1: missing, then created before the re-read. Round 2: soft-deleted before the statement
      // (so streamExists fails), written again before the re-read (so it passes again).
      const proxied = intercepted(sql, store, {
        main: [undefined, Effect.flatMap(EventStore.EventStore, (s) => s.deleteStream(stream))],
        reread: [other(stream), other(stream)]
      })
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.streamExists))
      assert.strictEqual(outcome._tag, "Raced")
      const types = (yield* Stream.runCollect(store.read(stream))).map((event) => event.type)
      assert.deepStrictEqual(types, ["Other"], "nothing of the raced append was written")
    }))

  it.effect("a stream moved before the statement is a conflict with the version the re-read finds", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const stream = unique("race-")
      yield* store.append(stream, [Event.make("Other", {})])
      const proxied = intercepted(sql, store, { main: [other(stream)], reread: [] })
      const outcome = yield* appendOne(proxied, yield* plan(stream, ExpectedVersion.exact(0)))
      assert.deepStrictEqual(outcome, { _tag: "Conflict", actual: 1n })
    }))
})
