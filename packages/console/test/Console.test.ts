import { Console } from "@strata/console"
import { Event, EventStore, JobQueue, MemoryStore, ParkedEvents } from "@strata/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as os from "node:os"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type Fixture, request, seed, start } from "./fixture.ts"

let fixture: Fixture
let port: number
let token: string
let origin: string

beforeAll(async () => {
  fixture = await start()
  port = fixture.server.port
  token = Redacted.value(fixture.server.token)
  origin = fixture.server.origin
  await seed(fixture)
})
afterAll(() => fixture?.close())

const get = (path: string, headers: Record<string, string> = {}) => request(port, { path, headers })
const api = async (path: string) => {
  const answer = await get(path, { "x-strata-console-token": token })
  assert.strictEqual(answer.status, 200, answer.body)
  return JSON.parse(answer.body)
}
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(port, {
    path,
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })
// The ConsoleError serve fails with (over a store, so only the option checks can fail it).
const failure = async (effect: Effect.Effect<unknown, Console.ConsoleError, any>) => {
  const exit = await fixture.run(Effect.exit(Effect.scoped(effect)))
  return Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined
}
const own = () => ({ "x-strata-console-token": token, origin })

describe("Console.serve: where it listens", () => {
  it("binds 127.0.0.1 on a random port and prints a URL with a long random token", () => {
    assert.match(fixture.server.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/)
    assert.notStrictEqual(port, 0)
    assert.strictEqual(fixture.server.origin, `http://127.0.0.1:${port}`)
    assert.notInclude(fixture.server.origin, token)
  })

  it("refuses a non-loopback address unless allowRemote says so", async () => {
    const refused = await failure(Console.serve({ host: "0.0.0.0" }))
    assert.strictEqual(refused?.reason, "RemoteBindRefused")
    assert.include(refused?.message, "allowRemote")
    const other = await start({ host: "0.0.0.0", allowRemote: true })
    try {
      const answer = await request(other.server.port, {
        path: "/api/overview",
        headers: { "x-strata-console-token": Redacted.value(other.server.token) }
      })
      assert.strictEqual(answer.status, 200, "reached through 127.0.0.1")
      // Through this machine's other addresses too, the Host header naming them.
      const external = Object.values(os.networkInterfaces()).flat()
        .find((a) => a !== undefined && a.family === "IPv4" && !a.internal)
      if (external !== undefined) {
        const remote = await new Promise<number>((resolve, reject) =>
          Http.get({
            host: external.address,
            port: other.server.port,
            path: "/api/overview",
            headers: { "x-strata-console-token": Redacted.value(other.server.token) }
          }, (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          }).on("error", reject)
        )
        assert.strictEqual(remote, 200, `reached through ${external.address}`)
      }
      const wildcard = await request(other.server.port, {
        path: "/api/overview",
        headers: { "x-strata-console-token": Redacted.value(other.server.token), host: `0.0.0.0:${other.server.port}` }
      })
      assert.strictEqual(wildcard.status, 403, "0.0.0.0 is no name of the server")
      const foreign = await request(other.server.port, {
        path: "/api/overview",
        headers: { "x-strata-console-token": Redacted.value(other.server.token), host: "attacker.example" }
      })
      assert.strictEqual(foreign.status, 403, "the Host check still applies")
    } finally {
      await other.close()
    }
  })

  it("refuses a bad port and a short token; gives each run its own token", async () => {
    const bad = await failure(Console.serve({ port: 70000 }))
    assert.include(bad?.message, "port must be")
    const short = await failure(Console.serve({ token: "abc" }))
    assert.include(short?.message, "at least 16")
    const other = await start()
    try {
      assert.notStrictEqual(Redacted.value(other.server.token), token)
    } finally {
      await other.close()
    }
  })

  it("stops serving when its scope closes", async () => {
    const other = await start()
    const otherPort = other.server.port
    await other.close()
    const error = await request(otherPort, { path: "/" }).then(() => undefined, (e: Error) => e)
    assert.include(String(error), "ECONNREFUSED")
  })
})

describe("Console.serve: the lock", () => {
  it("refuses every request without the token, or with a wrong one", async () => {
    for (
      const path of ["/", "/index.html", "/api/overview", "/api/streams", "/api/consumers", "/api/parked", "/api/tail"]
    ) {
      const none = await get(path)
      assert.strictEqual(none.status, 401, path)
      assert.notInclude(none.body, "order-1")
      const wrong = await get(`${path}?token=${token.slice(0, -1)}x`)
      assert.strictEqual(wrong.status, 401, path)
    }
    const page = await get(`/?token=${token}`)
    assert.strictEqual(page.status, 200)
  })

  it("refuses a foreign Host header (DNS rebinding), even with the token", async () => {
    const rebinding = await get(`/?token=${token}`, { host: `attacker.example:${port}` })
    assert.strictEqual(rebinding.status, 403)
    const otherPort = await get(`/api/overview?token=${token}`, { host: `127.0.0.1:${port + 1}` })
    assert.strictEqual(otherPort.status, 403)
    const localhost = await get(`/api/overview?token=${token}`, { host: `localhost:${port}` })
    assert.strictEqual(localhost.status, 200, "loopback names are the same server")
  })

  it("refuses a foreign Origin and a page of another port or site, reads and writes alike", async () => {
    const foreign = await get(`/api/streams?token=${token}`, { origin: "http://attacker.example" })
    assert.strictEqual(foreign.status, 403)
    const crossPort = await get("/api/streams", {
      "x-strata-console-token": token,
      origin: `http://127.0.0.1:${port + 1}`,
      "sec-fetch-site": "same-site"
    })
    assert.strictEqual(crossPort.status, 403)
    // A browser that sends no Origin on a GET still says where the request comes from.
    const sameSite = await get("/api/streams", { "x-strata-console-token": token, "sec-fetch-site": "same-site" })
    assert.strictEqual(sameSite.status, 403)
    const crossSite = await get(`/?token=${token}`, { "sec-fetch-site": "cross-site" })
    assert.strictEqual(crossSite.status, 403, "a link on another site cannot open the console")
    const typed = await get(`/?token=${token}`, { "sec-fetch-site": "none" })
    assert.strictEqual(typed.status, 200, "the URL opened from the terminal")
    const write = await post("/api/parked/discard", { consumer: "mailer", position: "1" }, {
      "x-strata-console-token": token,
      origin: `http://127.0.0.1:${port + 1}`
    })
    assert.strictEqual(write.status, 403)
  })

  it("sends no CORS header and answers no preflight", async () => {
    const preflight = await request(port, {
      path: "/api/parked/discard",
      method: "OPTIONS",
      headers: { origin: "http://attacker.example", "access-control-request-method": "POST" }
    })
    assert.strictEqual(preflight.status, 405)
    const page = await get(`/?token=${token}`)
    const api = await get(`/api/streams?token=${token}`)
    for (const answer of [preflight, page, api]) {
      assert.deepStrictEqual(Object.keys(answer.headers).filter((h) => h.startsWith("access-control")), [])
    }
  })

  it("takes writes only by POST with the token header, the console's Origin and a JSON body", async () => {
    const target = { consumer: "mailer", position: "999" }
    const byGet = await get(`/api/parked/discard?token=${token}`)
    assert.strictEqual(byGet.status, 404, "no write by GET")
    const tokenInQuery = await request(port, {
      path: `/api/parked/discard?token=${token}`,
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: JSON.stringify(target)
    })
    assert.strictEqual(tokenInQuery.status, 401, "a form or a link cannot carry the header")
    const noOrigin = await post("/api/parked/discard", target, { "x-strata-console-token": token })
    assert.strictEqual(noOrigin.status, 403)
    const form = await request(port, {
      path: "/api/parked/discard",
      method: "POST",
      headers: { ...own(), "content-type": "application/x-www-form-urlencoded" },
      body: "consumer=mailer&position=999"
    })
    assert.strictEqual(form.status, 415)
    const allowed = await post("/api/parked/discard", target, own())
    assert.strictEqual(allowed.status, 404, "let through: nothing is parked at 999")
    assert.include(JSON.parse(allowed.body).error, "no parked event at position 999")
    const bad = await post("/api/parked/discard", { consumer: "mailer", position: "-1" }, own())
    assert.strictEqual(bad.status, 400)
  })

  it("serves a self-contained page: nonce CSP, no framing, no referrer, nothing loaded from elsewhere", async () => {
    const page = await get(`/?token=${token}`)
    const csp = String(page.headers["content-security-policy"])
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1]
    assert.isDefined(nonce)
    assert.include(page.body, `<script nonce="${nonce}">`)
    assert.include(csp, "default-src 'none'")
    assert.include(csp, "frame-ancestors 'none'")
    assert.strictEqual(page.headers["x-frame-options"], "DENY")
    assert.strictEqual(page.headers["referrer-policy"], "no-referrer")
    assert.strictEqual(page.headers["cache-control"], "no-store")
    assert.notMatch(page.body, /(src|href)=["']?(https?:)?\/\//i)
    assert.notMatch(page.body, /@import|url\(/i)
    const again = await get(`/?token=${token}`)
    assert.notInclude(String(again.headers["content-security-policy"]), nonce!, "a fresh nonce per page")
  })

  it("shows the store's URL scrubbed of its secrets", async () => {
    const other = await start({ store: Redacted.make("postgres://app:s3cret@db.internal:5432/app?sslkey=k3y&x=1") })
    try {
      const page = await request(other.server.port, {
        path: "/",
        headers: { "x-strata-console-token": Redacted.value(other.server.token) }
      })
      assert.include(page.body, "postgres://app:***@db.internal:5432/app?sslkey=***&amp;x=1")
      assert.notInclude(page.body, "s3cret")
      assert.notInclude(page.body, "k3y")
    } finally {
      await other.close()
    }
  })
})

describe("Console.serve: the pages' data", () => {
  it("lists streams newest first, by prefix and by category", async () => {
    const all = await api("/api/streams")
    assert.deepStrictEqual(all.streams.map((s: any) => s.stream), ["mail-1", "order-2", "order-1"])
    assert.isTrue(all.complete)
    const order1 = all.streams.find((s: any) => s.stream === "order-1")
    assert.strictEqual(order1.lastVersion, "1")
    assert.strictEqual(order1.lastType, "OrderPaid")
    const byPrefix = await api("/api/streams?prefix=order-")
    assert.deepStrictEqual(byPrefix.streams.map((s: any) => s.stream), ["order-2", "order-1"])
    const byCategory = await api("/api/streams?category=mail")
    assert.deepStrictEqual(byCategory.streams.map((s: any) => s.stream), ["mail-1"])
    const limited = await api("/api/streams?limit=1")
    assert.deepStrictEqual(limited.streams.map((s: any) => s.stream), ["mail-1"])
    assert.isFalse(limited.complete)
    const bad = await get(`/api/streams?limit=0&token=${token}`)
    assert.strictEqual(bad.status, 400)
  })

  it("shows a stream's events with data and metadata, paged", async () => {
    const stream = await api("/api/stream?name=order-1")
    assert.strictEqual(stream.status, "active")
    assert.strictEqual(stream.lastVersion, "1")
    assert.deepStrictEqual(stream.events.map((e: any) => e.type), ["OrderPlaced", "OrderPaid"])
    assert.deepStrictEqual(stream.events[0].data, { sku: "A-1", qty: 2 })
    assert.strictEqual(stream.events[0].metadata.correlationId, "c-1")
    assert.strictEqual(stream.events[0].version, "0")
    const page = await api("/api/stream?name=order-1&limit=1")
    assert.deepStrictEqual(page.events.map((e: any) => e.type), ["OrderPlaced"])
    assert.strictEqual(page.next, "1")
    const second = await api("/api/stream?name=order-1&limit=1&from=1")
    assert.deepStrictEqual(second.events.map((e: any) => e.type), ["OrderPaid"])
    const missing = await api("/api/stream?name=nothing-here")
    assert.strictEqual(missing.status, "missing")
    assert.deepStrictEqual(missing.events, [])
    const bad = await get(`/api/stream?name=&token=${token}`)
    assert.strictEqual(bad.status, 400)
  })

  it("shows consumers with position, lag and status, and the overview", async () => {
    const { consumers } = await api("/api/consumers")
    const mailer = consumers.find((c: any) => c.name === "mailer")
    assert.isDefined(mailer)
    assert.isTrue(mailer.running)
    assert.include(["live", "catching-up"], mailer.state)
    assert.strictEqual(mailer.parked, 1)
    assert.isString(mailer.position)
    const overview = await api("/api/overview")
    assert.strictEqual(overview.backend, "memory")
    assert.strictEqual(overview.stats.events, 4)
    assert.strictEqual(overview.status, "degraded", "a parked event needs a look")
    assert.isTrue(overview.problems.some((p: string) => p.includes("parked")))
    const jobs = await api("/api/jobs")
    assert.isFalse(jobs.available)
  })

  it("tails $all: the last events, then new ones as they are appended", async () => {
    const received: Array<any> = []
    const req = Http.get({
      host: "127.0.0.1",
      port,
      path: `/api/tail?token=${token}`
    })
    const done = new Promise<void>((resolve, reject) => {
      req.on("response", (res) => {
        assert.strictEqual(res.headers["content-type"], "text/event-stream; charset=utf-8")
        let buffer = ""
        res.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8")
          let end: number
          while ((end = buffer.indexOf("\n\n")) !== -1) {
            const frame = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const data = /^data: (.*)$/m.exec(frame)?.[1]
            if (data !== undefined && frame.startsWith("event: event")) received.push(JSON.parse(data))
            if (received.length === 4) {
              void fixture.run(
                Effect.flatMap(
                  EventStore.EventStore,
                  (store) => store.append("order-3", [Event.make("OrderPlaced", { sku: "C-3", qty: 5 })])
                )
              )
            }
            if (received.length === 5) resolve()
          }
        })
      })
      req.on("error", reject)
    })
    await done
    req.destroy()
    assert.deepStrictEqual(received.map((e) => e.stream), ["order-1", "order-1", "order-2", "mail-1", "order-3"])
    assert.deepStrictEqual(received[4].data, { sku: "C-3", qty: 5 })
  })

  it("replays a parked event through the running consumer only once its handler succeeds", async () => {
    const before = await api("/api/parked")
    assert.lengthOf(before.parked, 1)
    const entry = before.parked[0]
    assert.strictEqual(entry.consumer, "mailer")
    assert.strictEqual(entry.type, "Poison")
    assert.include(entry.error, "mail server refused")
    assert.isTrue(entry.replayable)
    const failed = await post("/api/parked/replay", { consumer: "mailer", position: entry.position }, own())
    assert.strictEqual(failed.status, 409)
    assert.include(JSON.parse(failed.body).error, "mail server refused")
    assert.lengthOf((await api("/api/parked")).parked, 1, "still parked after a failed replay")
    fixture.state.healed = true
    const replayed = await post("/api/parked/replay", { consumer: "mailer", position: entry.position }, own())
    assert.strictEqual(replayed.status, 200, replayed.body)
    assert.include(fixture.state.handled, "Poison")
    assert.lengthOf((await api("/api/parked")).parked, 0)
    const unknown = await post("/api/parked/replay", { consumer: "nobody", position: "1" }, own())
    assert.strictEqual(unknown.status, 404)
  })

  it("a consumer of another process: discard, and no replay (its handler is not here)", async () => {
    // What `strata console` sees: an event parked by a consumer that runs elsewhere.
    await fixture.run(Effect.flatMap(ParkedEvents.ParkedEvents, (store) =>
      store.park({
        consumer: "billing",
        position: 2n,
        stream: "order-1",
        version: 1n,
        id: "0190a0a0-0000-7000-8000-000000000000",
        type: "OrderPaid",
        error: "card declined",
        attempts: 3,
        parkedAt: new Date()
      })))
    const listed = (await api("/api/parked")).parked
    // Only consumers with a checkpoint or running here are listed: billing has neither yet.
    assert.isFalse(listed.some((p: any) => p.consumer === "billing"))
    await fixture.run(Effect.flatMap(EventStore.EventStore, (store) => store.saveCheckpoint("billing", 1n)))
    const entry = (await api("/api/parked")).parked.find((p: any) => p.consumer === "billing")
    assert.isDefined(entry)
    assert.isFalse(entry.replayable)
    const replay = await post("/api/parked/replay", { consumer: "billing", position: "2" }, own())
    assert.strictEqual(replay.status, 409)
    assert.include(JSON.parse(replay.body).error, "not running in this process")
    const discard = await post("/api/parked/discard", { consumer: "billing", position: "2" }, own())
    assert.strictEqual(discard.status, 200, discard.body)
    assert.isFalse((await api("/api/parked")).parked.some((p: any) => p.consumer === "billing"))
    const again = await post("/api/parked/discard", { consumer: "billing", position: "2" }, own())
    assert.strictEqual(again.status, 404)
  })
})

describe("Console.serve: job queues", () => {
  it("lists the queues and their counts when a JobQueue is in context", async () => {
    const Mail = JobQueue.make("mail", Schema.Struct({ to: Schema.String }))
    const scope = Effect.runSync(Scope.make())
    try {
      const server = await Effect.runPromise(
        Effect.gen(function*() {
          yield* JobQueue.enqueue(Mail, { to: "ada" })
          yield* JobQueue.enqueue(Mail, { to: "alan" }, { delay: "1 hour" })
          return yield* Console.serve()
        }).pipe(
          Effect.provide(Layer.merge(MemoryStore.layer(), JobQueue.layerMemory)),
          Scope.provide(scope)
        )
      )
      const answer = await request(server.port, {
        path: "/api/jobs",
        headers: { "x-strata-console-token": Redacted.value(server.token) }
      })
      const jobs = JSON.parse(answer.body)
      assert.isTrue(jobs.available)
      assert.deepStrictEqual(jobs.queues.map((q: any) => [q.name, q.pending, q.due, q.running, q.dead]), [
        ["mail", 2, 1, 0, 0]
      ])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})

describe("Console.open", () => {
  it("opens a store from its URL and serves it", async () => {
    const scope = Effect.runSync(Scope.make())
    try {
      const server = await Effect.runPromise(Console.open("memory:").pipe(Scope.provide(scope)))
      const answer = await request(server.port, {
        path: "/api/overview",
        headers: { "x-strata-console-token": Redacted.value(server.token) }
      })
      assert.strictEqual(answer.status, 200, answer.body)
      const overview = JSON.parse(answer.body)
      assert.strictEqual(overview.backend, "memory")
      assert.strictEqual(overview.store, "memory:")
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
