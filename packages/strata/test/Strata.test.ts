/**
 * The backend from configuration: one program on memory, SQLite and PostgreSQL by changing
 * `STRATA_URL`; every refused URL is a typed StoreUrlError naming the accepted forms; a password in
 * the URL reaches no error, log line or span.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import { DocumentStore, Event, EventCodec, EventStore, Projection, StoreUrl, Strata } from "@strata/strata"
import { PgTestDatabase } from "@strata/test-utils"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// The program under test knows nothing of the backend.
const program = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  const stream = `config-${Math.random().toString(16).slice(2, 10)}`
  yield* store.append(stream, [Event.make("Opened", { n: 1 }), Event.make("Closed", { n: 2 })])
  const events = yield* Stream.runCollect(store.read(stream))
  return { backend: store.backend, types: events.map((event) => event.type) }
})

const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))

const runOn = (env: Record<string, string>) =>
  program.pipe(Effect.provide(Strata.layerConfig().pipe(Layer.provide(withEnv(env)))))

/** Everything a failed layer build leaves behind: its exit, what it logged and the spans it made. */
const observe = (url: string) =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    const logger = Logger.make(({ cause, message }) => logs.push(`${String(message)} ${Cause.pretty(cause)}`))
    const exit = yield* program.pipe(
      Effect.provide(Strata.layerConfig().pipe(Layer.provide(withEnv({ STRATA_URL: url })))),
      Effect.withTracer(tracer),
      Effect.provide(Logger.layer([logger])),
      Effect.provideService(References.MinimumLogLevel, "All"),
      Effect.exit
    )
    const seen = [
      JSON.stringify(exit, (_, v) => typeof v === "bigint" ? String(v) : v),
      Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "",
      ...logs,
      ...spans.flatMap((span) => [span.name, JSON.stringify([...span.attributes])])
    ].join("\n")
    return { exit, seen }
  })

const storeUrlError = (exit: Exit.Exit<unknown, unknown>): StoreUrl.StoreUrlError => {
  assert.isTrue(Exit.isFailure(exit), "the layer was expected to fail")
  const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
  assert.instanceOf(error, StoreUrl.StoreUrlError)
  return error as StoreUrl.StoreUrlError
}

describe("Strata.layerConfig", () => {
  it.live("runs the program on memory:", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runOn({ STRATA_URL: "memory:" }), {
        backend: "memory",
        types: ["Opened", "Closed"]
      })
    }))

  it.live("runs the program on sqlite: files and sqlite::memory:, with store options from the environment", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-url-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "app.db")
      const env = { STRATA_PAGE_SIZE: "1", STRATA_POLL_INTERVAL: "50 millis", STRATA_MAX_EVENT_BYTES: "1000" }
      assert.deepStrictEqual(yield* runOn({ ...env, STRATA_URL: `sqlite:${file}` }), {
        backend: "sqlite",
        types: ["Opened", "Closed"]
      })
      assert.isTrue(fs.existsSync(file), "the SQLite file was created where the URL says")
      assert.deepStrictEqual(yield* runOn({ STRATA_URL: `sqlite://${file}` }), {
        backend: "sqlite",
        types: ["Opened", "Closed"]
      })
      assert.deepStrictEqual((yield* runOn({ STRATA_URL: "sqlite::memory:" })).backend, "sqlite")
    }))

  it.live("STRATA_MAX_EVENT_BYTES reaches the store", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(runOn({ STRATA_URL: "sqlite::memory:", STRATA_MAX_EVENT_BYTES: "5" }))
      assert.strictEqual(error._tag, "InvalidEvent")
    }))

  it.live("inline projections reach memory: and sqlite: stores; a kurrentdb: URL refuses them", () =>
    Effect.gen(function*() {
      const Opened = EventCodec.type("Opened", { schema: Schema.Struct({ n: Schema.Number }) })
      const Codec = EventCodec.make([Opened])
      const Counts = DocumentStore.collection("counts", Schema.Struct({ n: Schema.Number }))
      const counts = Projection.singleStream({
        name: "counts",
        collection: Counts,
        events: Codec,
        evolve: (current, { event }) => ({ n: (current?.n ?? 0) + event.n })
      })
      for (const url of ["memory:", "sqlite::memory:"]) {
        const counted = yield* Effect.gen(function*() {
          yield* Codec.append("a-1", [Opened.make({ n: 2 }), Opened.make({ n: 3 })])
          const docs = yield* DocumentStore.DocumentStore
          return Option.map(yield* docs.get(Counts, "a-1"), (d) => d.value.n)
        }).pipe(Effect.provide(Strata.layerFromUrl(url, { projections: [counts] })))
        assert.deepStrictEqual(counted, Option.some(5), url)
      }
      const refused = yield* Effect.flip(
        Effect.provide(Effect.void, Strata.layerFromUrl("kurrentdb://127.0.0.1:1?tls=false", { projections: [counts] }))
      )
      assert.strictEqual(refused._tag, "StoreUrlError")
      assert.strictEqual((refused as StoreUrl.StoreUrlError).reason, "NotAvailable")
    }))

  it.live("a bad option value is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(runOn({ STRATA_URL: "memory:", STRATA_PAGE_SIZE: "many" }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(String(error), "STRATA_PAGE_SIZE")
    }))

  it.live("STRATA_STARTUP_RETRY is a duration: a bad one is a ConfigError naming it, a good one starts the store", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(runOn({ STRATA_URL: "memory:", STRATA_STARTUP_RETRY: "soon" }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(String(error), "STRATA_STARTUP_RETRY")
      const result = yield* runOn({ STRATA_URL: "sqlite::memory:", STRATA_STARTUP_RETRY: "5 seconds" })
      assert.strictEqual(result.backend, "sqlite")
    }))

  it.live("a missing STRATA_URL is a StoreUrlError (Missing) that says to set it; defaultUrl is the opt-in fallback", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        program.pipe(Effect.provide(Strata.layerConfig().pipe(Layer.provide(withEnv({})))))
      )
      assert.strictEqual(error._tag, "StoreUrlError")
      if (error._tag === "StoreUrlError") assert.strictEqual(error.reason, "Missing")
      assert.include(error.message, "STRATA_URL is not set")
      const result = yield* program.pipe(
        Effect.provide(Strata.layerConfig({ defaultUrl: "memory:" }).pipe(Layer.provide(withEnv({}))))
      )
      assert.strictEqual(result.backend, "memory")
    }))
})

describe("lazy backends", () => {
  it("a program on memory: never loads node:sqlite; one on sqlite: does", () => {
    // A fresh process: the test runner itself has loaded node:sqlite long ago.
    const script = `
      import { EventStore, Strata } from "@strata/strata"
      import { Effect } from "effect"
      const sqliteLoaded = () => process.moduleLoadList.some((m) => m === "NativeModule sqlite")
      const use = (url) => Effect.runPromise(Effect.scoped(Effect.provide(Effect.gen(function*() { yield* EventStore.EventStore }), Strata.layerFromUrl(url))))
      await use("memory:")
      const afterMemory = sqliteLoaded()
      await use("sqlite::memory:")
      console.log(JSON.stringify({ afterMemory, afterSqlite: sqliteLoaded() }))`
    const output = execFileSync(
      process.execPath,
      ["--conditions=@strata/source", "--input-type=module", "-e", script],
      {
        encoding: "utf8"
      }
    )
    assert.deepStrictEqual(JSON.parse(output.trim().split("\n").at(-1)!), { afterMemory: false, afterSqlite: true })
  })
})

describe("Strata on KurrentDB", () => {
  it.live("runs the same program on a kurrentdb:// URL (the in-repo emulator)", () =>
    Effect.gen(function*() {
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => KurrentEmulator.start()),
        (started) => Effect.promise(() => started.stop())
      )
      assert.deepStrictEqual(yield* runOn({ STRATA_URL: emulator.connectionString }), {
        backend: "kurrentdb",
        types: ["Opened", "Closed"]
      })
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live(
    "an unreachable server fails the layer with StartupFailed, and the password is nowhere",
    () =>
      Effect.gen(function*() {
        const secret = "Kurr3nt-S3cret-Pa55"
        const { exit, seen } = yield* observe(`kurrentdb://admin:${secret}@127.0.0.1:1?tls=false`)
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.strictEqual((error as { readonly _tag?: string })._tag, "StartupFailed")
        assert.include(String((error as { readonly message?: string }).message), "127.0.0.1:1")
        assert.notInclude(seen, secret)
      }),
    { timeout: 60_000 }
  )
})

layer(PgTestDatabase.layer, { timeout: "60 seconds", excludeTestServices: true })("Strata on PostgreSQL", (it) => {
  it.effect("runs the same program on postgres:// and postgresql:// URLs", () =>
    Effect.gen(function*() {
      const db = yield* PgTestDatabase
      const url = new URL(db.connectionString)
      assert.notStrictEqual(url.password, "", "the test URL carries a password")
      assert.deepStrictEqual(yield* runOn({ STRATA_URL: db.connectionString }), {
        backend: "postgres",
        types: ["Opened", "Closed"]
      })
      url.protocol = "postgresql:"
      assert.strictEqual((yield* runOn({ STRATA_URL: url.toString() })).backend, "postgres")
    }))

  it.effect("a wrong password fails the layer, and the password is in no error, log line or span", () =>
    Effect.gen(function*() {
      const db = yield* PgTestDatabase
      const url = new URL(db.connectionString)
      url.password = "Wr0ng-S3cret-Pa55"
      const { exit, seen } = yield* observe(url.toString())
      assert.isTrue(Exit.isFailure(exit))
      assert.notInclude(seen, "Wr0ng-S3cret-Pa55")
    }))
})

describe("Strata.layerFromUrl refuses", () => {
  const secret = "Sup3r-S3cret-Pa55"
  const cases: ReadonlyArray<readonly [string, StoreUrl.StoreUrlError["reason"], string]> = [
    [`./app.db`, "UnknownScheme", "no scheme"],
    [`mysql://app:${secret}@localhost/app`, "UnknownScheme", "no backend has the scheme mysql:"],
    [`memory:${secret}`, "Malformed", "memory: takes nothing"],
    [`sqlite:`, "Malformed", "names no file"],
    [`sqlite://db-host/${secret}.db`, "Malformed", "not a host"],
    [`sqlite:./app.db?key=${secret}`, "Malformed", "only synchronous and checkpoint as query parameters"],
    [`sqlite:./app.db?synchronous=${secret}`, "Malformed", "the synchronous parameter is one of NORMAL, FULL"],
    [`sqlite:./app.db?checkpoint=inline&checkpoint=inline`, "Malformed", "appears twice"],
    [`sqlite:./app.db#${secret}`, "Malformed", "no fragment"],
    [`sqlite::memory:?synchronous=FULL`, "Malformed", "takes no parameters"],
    [`postgres:app:${secret}@localhost/app`, "Malformed", "no host part"],
    [`postgres://app:${secret}@localhost:99999/app`, "Malformed", "check the port"],
    [`postgres://app:${secret}@localhost:0/app`, "Malformed", "port is not 1-65535"],
    [`postgres://app:${secret}@localhost/app?port=0`, "Malformed", "port parameter"],
    [`postgres://app:${secret}@[::1/app`, "Malformed", "cannot be parsed"],
    [`postgres://app:${secret}%zz@localhost/app`, "Malformed", "password has an invalid percent-encoding"],
    [`postgresql://app:${secret}@localhost/app?sslmode=${secret}`, "Malformed", "sslmode"],
    [`postgres://app:${secret}@localhost/app?connect_timeout=soon`, "Malformed", "connect_timeout"],
    [`d1:DB`, "Malformed", "binding"]
  ]
  for (const [url, reason, detail] of cases) {
    it.effect(`${url.replaceAll(secret, "<secret>")} with ${reason}, naming the accepted forms`, () =>
      Effect.gen(function*() {
        const { exit, seen } = yield* observe(url)
        const error = storeUrlError(exit)
        assert.strictEqual(error.reason, reason)
        assert.include(error.message, detail)
        assert.include(error.message, "Accepted: ")
        assert.include(error.message, reason === "Malformed" && url.startsWith("postgres") ? "postgres://" : "sqlite:")
        assert.isFalse(error.isRetryable)
        assert.notInclude(seen, secret)
      }))
  }

  it.effect("a URL given as a plain string is never echoed either", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(Strata.layerFromUrl(`postgres://app:${secret}@host:0/app`)))
      assert.instanceOf(error, StoreUrl.StoreUrlError)
      assert.notInclude(`${String(error)} ${JSON.stringify(error)}`, secret)
    }))
})
