/**
 * A Cloudflare Worker on D1: `POST /accounts/:id/deposit?amount=N` appends, `GET /accounts/:id` reads.
 * The D1 binding comes from the environment; the Layer is built per request (D1 bindings are
 * per-request objects in Workers).
 *
 * Deploy with wrangler (binding `DB`); packages/d1/test/worker.test.ts bundles this file and runs it
 * in Miniflare's workerd.
 */
import { Event, EventStore } from "@strata/core"
import { D1Store } from "@strata/d1"
import { Effect, Stream } from "effect"

interface Env {
  readonly DB: Parameters<typeof D1Store.layer>[0]["db"]
}

const handle = (request: Request) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const url = new URL(request.url)
    const [, resource, id, action] = url.pathname.split("/")
    if (resource !== "accounts" || id === undefined) return new Response("not found", { status: 404 })
    const stream = `account-${id}`
    if (request.method === "POST" && action === "deposit") {
      const amount = Number(url.searchParams.get("amount"))
      const result = yield* store.append(stream, [Event.make("Deposited", { amount })])
      return Response.json({ version: String(result.nextExpectedVersion), position: String(result.position) })
    }
    const events = yield* Stream.runCollect(store.read(stream))
    const balance = events.reduce((sum, event) => sum + (event.data as { amount: number }).amount, 0)
    return Response.json({ id, balance, events: events.length })
  })

export default {
  fetch: (request: Request, env: Env): Promise<Response> =>
    handle(request).pipe(
      Effect.provide(D1Store.layer({ db: env.DB })),
      Effect.catch((error) =>
        Effect.succeed(Response.json({ error: error._tag, message: error.message }, { status: 400 }))
      ),
      Effect.runPromise
    )
}
