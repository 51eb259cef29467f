// A memory store with one supervised consumer that parks what it fails on, and the console served
// over it on a random port: what the HTTP and browser tests open. And for the tests of a console
// opened by URL: the store at a URL to seed, the console opened on it, and one request.
import { Console } from "@strata/console"
import { Consumer, Event, EventStore, MemoryStore } from "@strata/core"
import { Strata } from "@strata/strata"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import { assert } from "vitest"

export interface Fixture {
  readonly server: Console.ConsoleServer
  /** Set to true and the consumer's handler stops failing on `Poison` events. */
  readonly state: { healed: boolean; readonly handled: Array<string> }
  readonly run: <A, E>(effect: Effect.Effect<A, E, any>) => Promise<A>
  readonly close: () => Promise<void>
}

export const start = async (options?: Console.ServeOptions): Promise<Fixture> => {
  const state = { healed: false, handled: [] as Array<string> }
  const scope = Effect.runSync(Scope.make())
  const layer = Consumer.layer("mailer", {
    parkAfter: 1,
    restart: Schedule.spaced("1 millis"),
    handler: (event) =>
      event.type === "Poison" && !state.healed
        ? Effect.fail(new Error("the mail server refused the message"))
        : Effect.sync(() => void state.handled.push(event.type))
  }).pipe(Layer.provideMerge(MemoryStore.layer()))
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const server = await Effect.runPromise(Console.serve(options).pipe(Effect.provide(context), Scope.provide(scope)))
  return {
    server,
    state,
    run: (effect) => Effect.runPromise(Effect.provide(effect, context) as Effect.Effect<any, any>),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** Appends a few orders and one poison event, and waits until the consumer parked it. */
export const seed = (fixture: Fixture) =>
  fixture.run(Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    yield* store.append("order-1", [
      Event.make("OrderPlaced", { sku: "A-1", qty: 2 }, { correlationId: "c-1" }),
      Event.make("OrderPaid", { amount: 42 })
    ])
    yield* store.append("order-2", [Event.make("OrderPlaced", { sku: "B-7", qty: 1 })])
    const { position } = yield* store.append("mail-1", [Event.make("Poison", { to: "ada@example.com" })])
    const mailer = yield* Consumer.get("mailer")
    yield* mailer.waitFor(position)
    return position
  }))

export interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** One request with exactly the headers given (fetch would not let a test set Host). */
export const request = (
  port: number,
  options: { path: string; method?: string; headers?: Record<string, string>; body?: string }
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = Http.request(
      { host: "127.0.0.1", port, path: options.path, method: options.method ?? "GET", headers: options.headers ?? {} },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk) => chunks.push(chunk))
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }))
      }
    )
    req.on("error", reject)
    if (options.body !== undefined) {
      req.write(options.body)
    }
    req.end()
  })

/** Runs `effect` on the store at `url` (migrated, as the application left it), then closes the store. */
export const onStore = <A, E>(url: string, effect: Effect.Effect<A, E, Strata.Services>) =>
  Effect.scoped(
    Effect.flatMap(
      Layer.build(Strata.layerFromUrl(Redacted.make(url), { migrate: true })),
      (context) => Effect.provide(effect, context)
    )
  )

export interface Opened {
  readonly server: Console.ConsoleServer
  /** The console's token, and its own origin (what the page's requests send). */
  readonly headers: Record<string, string>
  /** GETs an API path, which must answer 200: the parsed JSON and the body as sent. */
  readonly api: (path: string) => Promise<{ readonly json: any; readonly body: string }>
  readonly close: () => Promise<void>
}

/** The console opened on `url` as `strata console --url` opens it, in a scope of its own. */
export const open = async (url: string): Promise<Opened> => {
  const scope = Effect.runSync(Scope.make())
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  try {
    const server = await Effect.runPromise(Console.open(url).pipe(Scope.provide(scope)))
    const headers = { "x-strata-console-token": Redacted.value(server.token), origin: server.origin }
    const api = async (path: string) => {
      const answer = await request(server.port, { path, headers })
      assert.strictEqual(answer.status, 200, `${path}: ${answer.body}`)
      return { json: JSON.parse(answer.body), body: answer.body }
    }
    return { server, headers, api, close }
  } catch (error) {
    await close()
    throw error
  }
}
