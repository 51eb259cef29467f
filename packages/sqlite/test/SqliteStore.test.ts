/**
 * What only the SQLite backend has: a file shared by two processes, and consumers whose checkpoint
 * commits with the projection they write.
 */
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

describe("SqliteStore on a file", () => {
  const appendFromAnotherProcess = (file: string, stream: string, count: number) =>
    Effect.callback<void, Error>((resume) => {
      const script = `
        import { Event, EventStore } from "@strata/core"
        import { SqliteStore } from "@strata/sqlite"
        import { Effect } from "effect"
        const program = Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          for (let i = 0; i < ${count}; i++) yield* store.append(${
        JSON.stringify(stream)
      }, [Event.make("FromChild", { i })])
        })
        await Effect.runPromise(program.pipe(Effect.provide(SqliteStore.layer({ filename: ${JSON.stringify(file)} }))))
      `
      const child = execFile(
        process.execPath,
        ["--input-type=module", "-e", script],
        { cwd: import.meta.dirname },
        (error) => resume(error === null ? Effect.void : Effect.fail(error))
      )
      return Effect.sync(() => child.kill())
    })

  it.live(
    "two processes on one WAL file see each other's appends, and a live subscription picks them up by polling",
    () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-sqlite-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const file = path.join(dir, "shared.db")
        yield* Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          yield* store.append("parent-1", [Event.make("FromParent", {})])
          const live = yield* store.subscribe("child-1", { from: "start" }).pipe(
            Stream.take(20),
            Stream.runCollect,
            Effect.forkChild
          )
          yield* appendFromAnotherProcess(file, "child-1", 20)
          const seen = yield* Fiber.join(live)
          assert.deepStrictEqual(seen.map((e) => e.version), Array.from({ length: 20 }, (_, i) => BigInt(i)))
          const all = yield* Stream.runCollect(store.readAll())
          assert.deepStrictEqual(all.map((e) => e.type), [
            "FromParent",
            ...Array.from({ length: 20 }, () => "FromChild")
          ])
          assert.strictEqual(fs.existsSync(`${file}-wal`), true, "the database runs in WAL mode")
        }).pipe(Effect.provide(SqliteStore.layer({ filename: file, pollInterval: "50 millis" })))
      }),
    60_000
  )
})
