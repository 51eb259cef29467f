// The account aggregate the HTTP tests serve, and a real Node HTTP server on a random port.
import { NodeHttpServer } from "@effect/platform-node"
import { Aggregate, EventCodec } from "@strata/core"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"

export const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Finite }) })
export const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Finite }) })

export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  account: Schema.String,
  balance: Schema.Finite
}) {
  override get message() {
    return `account ${this.account} cannot cover the withdrawal`
  }
}

export type AccountCommand =
  | { readonly _tag: "Deposit"; readonly amount: number }
  | { readonly _tag: "Withdraw"; readonly amount: number }

export const Account = Aggregate.make({
  category: "account",
  codec: EventCodec.make([Deposited, Withdrawn]),
  initial: { balance: 0 },
  evolve: (state, event) => ({
    balance: state.balance + (event._tag === "Deposited" ? event.amount : -event.amount)
  }),
  decide: (command: AccountCommand, state, _loaded, id) =>
    command._tag === "Deposit"
      ? [Deposited.make({ amount: command.amount })]
      : state.balance < command.amount
      ? Effect.fail(new InsufficientFunds({ account: id, balance: state.balance }))
      : [Withdrawn.make({ amount: command.amount })]
})

export const Amount = Schema.Struct({ amount: Schema.Finite })

/** The routes served by a Node HTTP server on 127.0.0.1 and a random port. */
export const serve = <E, R>(routes: Layer.Layer<never, E, R>) =>
  HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )

/** `fetch` against the server in context. */
export const request = (path: string, init?: RequestInit) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const response = yield* Effect.promise(() => fetch(`${HttpServer.formatAddress(server.address)}${path}`, init))
    const text = yield* Effect.promise(() => response.text())
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: text === "" ? undefined : JSON.parse(text) as Record<string, unknown>
    }
  })

export const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })
