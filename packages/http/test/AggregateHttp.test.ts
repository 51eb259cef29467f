// Through a real Node HTTP server on a random port: an Aggregate's command and state endpoints, the
// stream version as ETag, If-Match / If-None-Match as expected versions, store errors and rejections
// as problem+json.
import { assert, describe, layer } from "@effect/vitest"
import { EventStore, MemoryStore, StoreError } from "@strata/core"
import { Aggregate, Event } from "@strata/core"
import { AggregateHttp, Problem } from "@strata/http"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { Account, Amount, Deposited, InsufficientFunds, post, request, serve } from "./fixtures.ts"

// An aggregate whose every decision races a concurrent writer (it appends to its own stream while
// deciding), and never decides again: its append always conflicts.
const Raced = Aggregate.make({
  category: "raced",
  codec: Account.codec,
  initial: 0,
  evolve: (n: number) => n + 1,
  decide: (_command: { readonly amount: number }, _state, _loaded, id) =>
    Effect.flatMap(
      EventStore.EventStore,
      (store) => store.append(`raced-${id}`, [Event.make("Deposited", { amount: 1 })])
    )
      .pipe(Effect.as([Deposited.make({ amount: 1 })]), Effect.orDie),
  schedule: Schedule.recurs(0)
})

const Routes = Layer.mergeAll(
  HttpRouter.add("POST", "/raced/:id", AggregateHttp.command(Raced, { body: Amount })),
  AggregateHttp.layer(Account, {
    path: "/accounts/:id",
    commands: {
      deposit: { body: Amount, command: ({ amount }) => ({ _tag: "Deposit" as const, amount }) },
      withdraw: { body: Amount, command: ({ amount }) => ({ _tag: "Withdraw" as const, amount }) }
    }
  }),
  // A strict endpoint: a precondition is required, and the rejection shows the balance.
  HttpRouter.add(
    "POST",
    "/strict/:id/withdraw",
    AggregateHttp.command(Account, {
      body: Amount,
      command: ({ amount }) => ({ _tag: "Withdraw" as const, amount }),
      precondition: "required",
      rejection: (error) =>
        error instanceof InsufficientFunds
          ? Problem.make(422, "InsufficientFunds", error.message, { balance: error.balance })
          : Problem.make(422, "Rejected", "rejected"),
      respond: (decided, id) => ({ id, balance: decided.state.balance })
    })
  )
)

const version = (stream: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.streamInfo(stream)).pipe(
    Effect.map((info) => info.lastVersion)
  )

const problemType = (tag: string) => `urn:strata:problem:${tag}`

describe("AggregateHttp over a real HTTP server", () => {
  layer(serve(Routes).pipe(Layer.provideMerge(MemoryStore.layer())), { excludeTestServices: true })((it) => {
    it.effect("create with If-None-Match: *, the ETag is the version; creating again is 412", () =>
      Effect.gen(function*() {
        const created = yield* post("/accounts/1/deposit", { amount: 100 }, { "if-none-match": "*" })
        assert.strictEqual(created.status, 200)
        assert.strictEqual(created.headers.get("etag"), "\"0\"")
        assert.deepStrictEqual(created.json, {
          id: "1",
          version: "0",
          position: created.json!.position,
          events: ["Deposited"]
        })

        const again = yield* post("/accounts/1/deposit", { amount: 100 }, { "if-none-match": "*" })
        assert.strictEqual(again.status, 412)
        assert.strictEqual(again.headers.get("content-type"), "application/problem+json")
        assert.strictEqual(again.json!.type, problemType("WrongExpectedVersion"))
        assert.strictEqual(again.json!.status, 412)
        assert.strictEqual(again.json!.stream, "account-1")
        assert.strictEqual(again.json!.actual, "0")
        assert.strictEqual(yield* version("account-1"), 0n, "nothing appended")
      }))

    it.effect("GET: the state with its ETag; If-None-Match with the current ETag is 304; unknown is 404", () =>
      Effect.gen(function*() {
        yield* post("/accounts/2/deposit", { amount: 5 })
        const got = yield* request("/accounts/2")
        assert.strictEqual(got.status, 200)
        assert.deepStrictEqual(got.json, { balance: 5 })
        assert.strictEqual(got.headers.get("etag"), "\"0\"")
        const cached = yield* request("/accounts/2", { headers: { "if-none-match": "\"0\"" } })
        assert.strictEqual(cached.status, 304)
        const stale = yield* request("/accounts/2", { headers: { "if-none-match": "W/\"7\"" } })
        assert.strictEqual(stale.status, 200)
        const missing = yield* request("/accounts/nobody")
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.json!.type, problemType("NotFound"))
      }))

    it.effect("If-Match: the ETag read is the exact expected version; a stale one is 412 and not retried", () =>
      Effect.gen(function*() {
        yield* post("/accounts/3/deposit", { amount: 50 })
        const withdrawn = yield* post("/accounts/3/withdraw", { amount: 20 }, { "if-match": "\"0\"" })
        assert.strictEqual(withdrawn.status, 200)
        assert.strictEqual(withdrawn.headers.get("etag"), "\"1\"")
        // Someone else's write moved the account on: the caller's ETag is stale.
        const stale = yield* post("/accounts/3/withdraw", { amount: 20 }, { "if-match": "\"0\"" })
        assert.strictEqual(stale.status, 412)
        assert.strictEqual(stale.json!.expected, "version 0")
        assert.strictEqual(stale.json!.actual, "1")
        assert.strictEqual(yield* version("account-3"), 1n, "a stale precondition writes nothing")
        // If-Match: * is "the account exists".
        const exists = yield* post("/accounts/3/withdraw", { amount: 1 }, { "if-match": "*" })
        assert.strictEqual(exists.status, 200)
        const absent = yield* post("/accounts/none/deposit", { amount: 1 }, { "if-match": "*" })
        assert.strictEqual(absent.status, 412)
      }))

    it.effect("a required precondition: 428 without one; malformed ones and bodies are 400, invalid bodies 422", () =>
      Effect.gen(function*() {
        yield* post("/accounts/4/deposit", { amount: 50 })
        const none = yield* post("/strict/4/withdraw", { amount: 1 })
        assert.strictEqual(none.status, 428)
        assert.strictEqual(none.json!.type, problemType("PreconditionRequired"))
        const both = yield* post("/strict/4/withdraw", { amount: 1 }, { "if-match": "\"0\"", "if-none-match": "*" })
        assert.strictEqual(both.status, 400)
        const garbled = yield* post("/strict/4/withdraw", { amount: 1 }, { "if-match": "\"zero\"" })
        assert.strictEqual(garbled.status, 400)
        assert.strictEqual(garbled.json!.type, problemType("MalformedPrecondition"))
        const notJson = yield* post("/accounts/4/deposit", "{amount:", {})
        assert.strictEqual(notJson.status, 400)
        assert.strictEqual(notJson.json!.type, problemType("MalformedBody"))
        const invalid = yield* post("/accounts/4/deposit", { amount: "lots" })
        assert.strictEqual(invalid.status, 422)
        assert.strictEqual(invalid.json!.type, problemType("InvalidBody"))
        assert.include(String(invalid.json!.detail), "amount")
        assert.strictEqual(yield* version("account-4"), 0n)
        const ok = yield* post("/strict/4/withdraw", { amount: 1 }, { "if-match": "\"0\"" })
        assert.strictEqual(ok.status, 200)
        assert.deepStrictEqual(ok.json, { id: "4", balance: 49 })
      }))

    it.effect("a concurrent write the aggregate gives up on is 409 without a precondition, 412 with one", () =>
      Effect.gen(function*() {
        const conflict = yield* post("/raced/1", { amount: 1 })
        assert.strictEqual(conflict.status, 409)
        assert.strictEqual(conflict.json!.type, problemType("WrongExpectedVersion"))
        assert.strictEqual(conflict.json!.stream, "raced-1")
        // The racer's own event is there; the decision's is not.
        assert.strictEqual(yield* version("raced-1"), 0n)
        const conditional = yield* post("/raced/1", { amount: 1 }, { "if-match": "\"0\"" })
        assert.strictEqual(conditional.status, 412)
      }))

    it.effect("rejections are 422 by tag, showing no field unless mapped; a tombstoned stream is 410", () =>
      Effect.gen(function*() {
        yield* post("/accounts/5/deposit", { amount: 10 })
        const rejected = yield* post("/accounts/5/withdraw", { amount: 1000 })
        assert.strictEqual(rejected.status, 422)
        assert.strictEqual(rejected.json!.type, problemType("InsufficientFunds"))
        assert.strictEqual(rejected.json!.detail, "account 5 cannot cover the withdrawal")
        assert.notProperty(rejected.json!, "balance", "a rejection's fields stay out unless mapped")
        const mapped = yield* post("/strict/5/withdraw", { amount: 1000 }, { "if-match": "\"0\"" })
        assert.strictEqual(mapped.status, 422)
        assert.strictEqual(mapped.json!.balance, 10)

        const store = yield* EventStore.EventStore
        yield* store.tombstoneStream("account-5")
        const gone = yield* post("/accounts/5/deposit", { amount: 1 })
        assert.strictEqual(gone.status, 410)
        assert.strictEqual(gone.json!.type, problemType("StreamDeleted"))
        assert.strictEqual(gone.json!.tombstoned, true)
      }))
  })

  // A store that is down: 503 with Retry-After, and the body never shows the cause.
  const secret = "postgres://app:hunter2@db.internal:5432/bank"
  const Down = Layer.effect(
    EventStore.EventStore,
    Effect.map(EventStore.EventStore, (store) => ({
      ...store,
      read: () =>
        Stream.fail(
          new StoreError.StoreUnavailable({ operation: "read", reason: "ConnectionError", cause: new Error(secret) })
        )
    }))
  ).pipe(Layer.provide(MemoryStore.layer()))
  layer(serve(Routes).pipe(Layer.provide(Down)), { excludeTestServices: true })((it) => {
    it.effect("a store outage is 503 with Retry-After; the cause (a connection string) is never shown", () =>
      Effect.gen(function*() {
        const response = yield* post("/accounts/6/deposit", { amount: 1 })
        assert.strictEqual(response.status, 503)
        assert.strictEqual(response.headers.get("retry-after"), "1")
        assert.strictEqual(response.json!.type, problemType("StoreUnavailable"))
        assert.strictEqual(response.json!.reason, "ConnectionError")
        assert.notInclude(response.text, "hunter2")
        assert.notInclude(response.text, "db.internal")
      }))
  })
})

describe("Problem.fromStoreError", () => {
  layer(Layer.empty)((it) => {
    it.effect("a conflict without a precondition is 409; duplicate ids 409; unsupported 501; invalid 422", () =>
      Effect.sync(() => {
        const conflict = Problem.fromStoreError(
          new StoreError.WrongExpectedVersion({ stream: "s", expected: "version 1", actual: 2n })
        )
        assert.strictEqual(conflict.status, 409)
        assert.deepStrictEqual(
          [conflict.body.stream, conflict.body.expected, conflict.body.actual],
          ["s", "version 1", "2"]
        )
        assert.strictEqual(
          Problem.fromStoreError(new StoreError.DuplicateEvent({ stream: "s", eventId: "e" })).status,
          409
        )
        assert.strictEqual(
          Problem.fromStoreError(new StoreError.Unsupported({ operation: "o", backend: "d1", detail: "no" })).status,
          501
        )
        assert.strictEqual(
          Problem.fromStoreError(
            new StoreError.InvalidEvent({ stream: "s", reason: "TooLarge", detail: "2 MiB", index: 0 })
          ).status,
          422
        )
        const soft = Problem.fromStoreError(new StoreError.StreamDeleted({ stream: "s", tombstoned: false }))
        assert.strictEqual(soft.status, 404)
        const decode = Problem.fromStoreError(
          new StoreError.EventDecodeError({
            stream: "s",
            version: 0n,
            position: 1n,
            eventId: "e",
            eventType: "T",
            schemaVersion: 1,
            detail: "secret data"
          })
        )
        assert.strictEqual(decode.status, 500)
        assert.notInclude(JSON.stringify(decode.body), "secret")
      }))
  })
})
