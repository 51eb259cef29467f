/**
 * A live subscription ends with StreamDeleted when another store on the same SQLite file (as another
 * process would) tombstones its stream: the tombstone appends nothing the shared live reader could
 * see, so the reader checks its members' streams on the poll tick (issue 23, many subscribers).
 */
import { assert, it } from "@effect/vitest"
import { Event, EventStore, type StoreError } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const storeOn = (filename: string) =>
  Effect.map(
    Layer.build(SqliteStore.layer({ filename, pollInterval: "100 millis" })),
    (context) => Context.get(context, EventStore.EventStore)
  )

it.live(
  "a live subscription fails with StreamDeleted when another store on the file tombstones its stream",
  () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-tombstones-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const filename = Path.join(dir, "store.db")
      const mine = yield* storeOn(filename)
      const other = yield* storeOn(filename)
      const stream = "order-1"
      // Other streams' members share the reader and must go on.
      yield* mine.append(stream, [Event.make("Placed", {})])
      yield* mine.append("order-2", [Event.make("Placed", {})])
      const got: Array<bigint> = []
      const kept: Array<bigint> = []
      const outcome = yield* Deferred.make<StoreError.StreamDeleted | "ended">()
      yield* Stream.runForEach(mine.subscribe(stream), (event) => Effect.sync(() => got.push(event.version))).pipe(
        Effect.as("ended" as const),
        Effect.catchTag("StreamDeleted", Effect.succeed),
        Effect.orDie,
        Effect.flatMap((result) => Deferred.succeed(outcome, result)),
        Effect.forkScoped
      )
      yield* Stream.runForEach(mine.subscribe("order-2"), (event) => Effect.sync(() => kept.push(event.version))).pipe(
        Effect.forkScoped
      )
      // Live: an event the other store appends arrives through the reader's poll.
      yield* other.append(stream, [Event.make("Paid", {})])
      while (got.length < 2 || kept.length < 1) yield* Effect.sleep("10 millis")
      yield* other.tombstoneStream(stream)
      const result = yield* Deferred.await(outcome).pipe(Effect.timeout("3 seconds"))
      assert.notStrictEqual(result, "ended")
      const error = result as StoreError.StreamDeleted
      assert.strictEqual(error._tag, "StreamDeleted")
      assert.strictEqual(error.stream, stream)
      assert.isTrue(error.tombstoned)
      assert.deepStrictEqual(got, [0n, 1n])
      // The other stream's subscription is unaffected.
      yield* other.append("order-2", [Event.make("Paid", {})])
      while (kept.length < 2) yield* Effect.sleep("10 millis")
      assert.deepStrictEqual(kept, [0n, 1n])
    }).pipe(Effect.scoped),
  { timeout: 20_000 }
)
