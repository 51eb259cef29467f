/**
 * The bank (examples/bank.ts) over HTTP with @strata/http on Effect's own HTTP server:
 *
 * - `GET  /accounts/:id`: the account's state, its version as the `ETag` (304 to `If-None-Match`);
 * - `POST /accounts/:id/open` `{ owner }` (send `If-None-Match: *` to create only),
 *   `POST /accounts/:id/deposit` `{ amount, currency }`,
 *   `POST /accounts/:id/withdraw` `{ amount, teller }` with `If-Match: "<version>"` required: a teller
 *   pays out on the balance they saw, or gets 412 and looks again;
 * - `GET  /health`, `/health/ready`, `/health/live`: the store and the teller-stats consumer.
 *
 * Rejections are problem+json: an overdraft is 422 `InsufficientFunds` with the balance, an account
 * that is not open 422 `AccountNotOpen`. Its test (examples/test/http.test.ts) drives it through a real
 * server.
 *
 *   node --conditions=@strata/source examples/http.ts   # then:
 *   curl -i -X POST localhost:3000/accounts/ada/open -H 'content-type: application/json' -d '{"owner":"Ada"}'
 *   curl -i localhost:3000/accounts/ada
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { AggregateHttp, HealthHttp, Problem } from "@strata/http"
import { Layer, Schema } from "effect"
import { HttpRouter } from "effect/http"
import * as fs from "node:fs"
import { createServer } from "node:http"
import { Account, type AccountCommand, AccountNotOpen, InsufficientFunds, layer } from "./bank.ts"

const rejection = (error: InsufficientFunds | AccountNotOpen) =>
  error instanceof InsufficientFunds
    ? Problem.make(422, "InsufficientFunds", "the balance does not cover the withdrawal", { balance: error.balance })
    : Problem.make(422, "AccountNotOpen", "open the account first")

/** The bank's routes: the account aggregate and the health checks. */
export const Routes = Layer.mergeAll(
  AggregateHttp.layer(Account, {
    path: "/accounts/:id",
    commands: {
      open: {
        body: Schema.Struct({ owner: Schema.NonEmptyString }),
        command: ({ owner }): AccountCommand => ({ _tag: "Open", owner })
      },
      deposit: {
        body: Schema.Struct({ amount: Schema.Finite, currency: Schema.String }),
        command: ({ amount, currency }): AccountCommand => ({ _tag: "Deposit", amount, currency }),
        rejection
      },
      withdraw: {
        body: Schema.Struct({ amount: Schema.Finite, teller: Schema.String }),
        command: ({ amount, teller }): AccountCommand => ({ _tag: "Withdraw", amount, teller }),
        precondition: "required",
        rejection,
        respond: (decided, id) => ({ id, balance: decided.state.balance })
      }
    }
  }),
  HealthHttp.layer()
)

/** The bank served on `port` (0: a random one) over the SQLite file `filename`. */
export const server = (filename: string, port: number) =>
  HttpRouter.serve(Routes, { disableListenLog: port === 0 }).pipe(
    Layer.provide(layer(filename)),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )

if (import.meta.main) {
  fs.mkdirSync(".strata", { recursive: true })
  NodeRuntime.runMain(Layer.launch(server(".strata/bank-http.db", Number(process.env["PORT"] ?? 3000))))
}
