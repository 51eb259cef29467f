// examples/http.ts through a real server on a random port, on a fresh SQLite file: open, deposit,
// read with the ETag, withdraw with If-Match (a stale ETag is 412), an overdraft is 422 with the
// balance, and the health routes see the store and the teller-stats consumer.
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Http from "../http.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-bank-http-"))
const Server = Http.server(path.join(dir, "bank.db"), 0).pipe(
  Layer.tap(() => Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))))
)

const call = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const response = yield* Effect.promise(() =>
      fetch(`${HttpServer.formatAddress(server.address)}${route}`, {
        method,
        headers: { "content-type": "application/json", ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
    )
    const text = yield* Effect.promise(() => response.text())
    return {
      status: response.status,
      etag: response.headers.get("etag"),
      json: text === "" ? undefined : JSON.parse(text)
    }
  })

describe("examples/http.ts: the bank over HTTP", () => {
  layer(Server, { excludeTestServices: true, timeout: "30 seconds" })((it) => {
    it.effect("open, deposit, read, withdraw with If-Match; stale ETags and overdrafts are problems", () =>
      Effect.gen(function*() {
        const opened = yield* call("POST", "/accounts/ada/open", { owner: "Ada" }, { "if-none-match": "*" })
        assert.deepStrictEqual([opened.status, opened.etag], [200, "\"0\""])
        const twice = yield* call("POST", "/accounts/ada/open", { owner: "Ada" }, { "if-none-match": "*" })
        assert.strictEqual(twice.status, 412)

        const deposited = yield* call("POST", "/accounts/ada/deposit", { amount: 100, currency: "EUR" })
        assert.deepStrictEqual([deposited.status, deposited.etag], [200, "\"1\""])
        const read = yield* call("GET", "/accounts/ada")
        assert.deepStrictEqual([read.status, read.etag, read.json], [200, "\"1\"", { owner: "Ada", balance: 100 }])

        const unconditional = yield* call("POST", "/accounts/ada/withdraw", { amount: 30, teller: "t1" })
        assert.strictEqual(unconditional.status, 428)
        const paid = yield* call("POST", "/accounts/ada/withdraw", { amount: 30, teller: "t1" }, {
          "if-match": read.etag!
        })
        assert.deepStrictEqual([paid.status, paid.etag, paid.json], [200, "\"2\"", { id: "ada", balance: 70 }])
        // A second teller withdraws on the balance they read before the first one was paid.
        const stale = yield* call("POST", "/accounts/ada/withdraw", { amount: 30, teller: "t2" }, {
          "if-match": read.etag!
        })
        assert.strictEqual(stale.status, 412)
        assert.strictEqual(stale.json.actual, "2")

        const overdraft = yield* call("POST", "/accounts/ada/withdraw", { amount: 500, teller: "t2" }, {
          "if-match": "\"2\""
        })
        assert.deepStrictEqual([overdraft.status, overdraft.json.type, overdraft.json.balance], [
          422,
          "urn:strata:problem:InsufficientFunds",
          70
        ])
        const notOpen = yield* call("POST", "/accounts/bob/deposit", { amount: 1, currency: "EUR" })
        assert.deepStrictEqual([notOpen.status, notOpen.json.type], [422, "urn:strata:problem:AccountNotOpen"])
      }))

    it.effect("health: ready and live, with the migrations current and the teller-stats consumer", () =>
      Effect.gen(function*() {
        const report = yield* call("GET", "/health")
        assert.strictEqual(report.status, 200)
        assert.strictEqual(report.json.backend, "sqlite")
        assert.strictEqual(report.json.migrations.status, "current")
        // Running in this program (the Consumers registry reaches the route), not only a stored checkpoint.
        const tellers = report.json.consumers.find((c: { name: string }) => c.name === "teller-stats")
        assert.isDefined(tellers?.state, JSON.stringify(report.json.consumers))
        const live = yield* call("GET", "/health/live")
        assert.strictEqual(live.status, 200)
      }))
  })
})
