// The same handlers inside Effect's declarative HttpApi: an endpoint's handler returns
// AggregateHttp's response as it is (ETag, problem+json), through a real HTTP server.
import { assert, describe, layer } from "@effect/vitest"
import { MemoryStore } from "@strata/core"
import { AggregateHttp } from "@strata/http"
import * as Effect from "effect/Effect"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Account, type AccountCommand, Amount, post, request, serve } from "./fixtures.ts"

const Api = HttpApi.make("bank").add(
  HttpApiGroup.make("accounts").add(
    HttpApiEndpoint.get("account", "/accounts/:id", { params: { id: Schema.String } }),
    HttpApiEndpoint.post("deposit", "/accounts/:id/deposit", { params: { id: Schema.String } })
  )
)

const Accounts = HttpApiBuilder.group(Api, "accounts", (handlers) =>
  handlers
    .handle("account", () => AggregateHttp.state(Account))
    .handle("deposit", () =>
      AggregateHttp.command(Account, {
        body: Amount,
        command: ({ amount }): AccountCommand => ({ _tag: "Deposit", amount })
      })))

describe("AggregateHttp inside an HttpApi", () => {
  layer(
    serve(HttpApiBuilder.layer(Api).pipe(Layer.provide(Accounts))).pipe(Layer.provideMerge(MemoryStore.layer())),
    { excludeTestServices: true }
  )((it) => {
    it.effect("commands and state with ETags and problems, as on a plain router", () =>
      Effect.gen(function*() {
        const created = yield* post("/accounts/9/deposit", { amount: 3 }, { "if-none-match": "*" })
        assert.deepStrictEqual([created.status, created.headers.get("etag")], [200, "\"0\""])
        const again = yield* post("/accounts/9/deposit", { amount: 3 }, { "if-none-match": "*" })
        assert.deepStrictEqual([again.status, again.headers.get("content-type")], [412, "application/problem+json"])
        const read = yield* request("/accounts/9")
        assert.deepStrictEqual([read.status, read.headers.get("etag"), read.json], [200, "\"0\"", { balance: 3 }])
        const missing = yield* request("/accounts/none")
        assert.strictEqual(missing.status, 404)
      }))
  })
})
