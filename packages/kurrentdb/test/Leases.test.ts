// Leases on KurrentDB beyond the conformance lease topic (which runs on this backend too): racing
// writers on one lease stream, the checkpoint fence as a consistency check (26.1) and on a server
// without multi-stream appends.
import { assert, it } from "@effect/vitest"
import { Consumer, EventStore, Lease } from "@strata/core"
import { KurrentStore } from "@strata/kurrentdb"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { storeLayer } from "./utils.ts"

it.live("of many holders racing for one free lease, exactly one wins; the stream records one token", () =>
  Effect.gen(function*() {
    const store = yield* Lease.LeaseStore
    const name = `race-${Date.now()}`
    const results = yield* Effect.forEach(
      Array.from({ length: 8 }, (_, i) => `holder-${i}`),
      (holder) => store.acquire(name, holder, Duration.seconds(30)),
      { concurrency: "unbounded" }
    )
    const winners = results.flatMap((result) => Option.isSome(result) ? [result.value] : [])
    assert.strictEqual(winners.length, 1)
    assert.strictEqual(winners[0].token, 1n)
    const listed = yield* store.list("race-")
    assert.deepStrictEqual(listed.filter((lease) => lease.name === name).map((lease) => lease.holder), [
      winners[0].holder
    ])
  }).pipe(Effect.provide(storeLayer())))

// A server before 25.1 has no multi-stream append: the checkpoint is written after a separate lease
// check (two writes), and a lost lease still refuses it.
it.live("before KurrentDB 25.1 a fenced checkpoint is checked, then written; a stale token is refused", () =>
  Effect.gen(function*() {
    const emulator = yield* Effect.acquireRelease(
      Effect.promise(() => KurrentEmulator.start({ serverVersion: "24.10.0", multiStreamAppend: false })),
      (emulator) => Effect.promise(() => emulator.stop())
    )
    const layer = KurrentStore.layer({ connectionString: emulator.connectionString })
    yield* Effect.gen(function*() {
      const store = yield* Lease.LeaseStore
      const events = yield* EventStore.EventStore
      const commit = (lease: Lease.Lease, position: bigint) =>
        Lease.withFencing(lease)(
          Effect.flatMap(Consumer.Checkpoints, (checkpoints) => checkpoints.commit("c1", position, Effect.void))
        )
      const name = `old-${Date.now()}`
      const first = Option.getOrThrow(yield* store.acquire(name, "a", Duration.millis(1)))
      yield* commit(first, 5n)
      assert.deepStrictEqual(yield* events.loadCheckpoint("c1"), Option.some(5n))
      yield* Effect.sleep("5 millis")
      const second = Option.getOrThrow(yield* store.acquire(name, "b", Duration.seconds(30)))
      assert.strictEqual(second.token, 2n)
      const stale = yield* Effect.flip(commit(first, 9n))
      assert.strictEqual(stale._tag, "LeaseLost")
      assert.deepStrictEqual(yield* events.loadCheckpoint("c1"), Option.some(5n))
    }).pipe(Effect.provide(Layer.fresh(layer)))
  }).pipe(Effect.scoped))

// 26.1: the fenced checkpoint is an AppendRecords whose consistency check is the lease stream's revision,
// so the lease stream is not written; a takeover that lands between the lease read and the write fails
// the check, and the checkpoint is refused (LeaseLost) with nothing written. On 25.x the lease is
// restated in the same multi-stream append instead.
it.live("a fenced checkpoint checks the lease stream on 26.1 (not written; a takeover in between refuses it)", () =>
  Effect.gen(function*() {
    for (const appendRecords of [true, false]) {
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => KurrentEmulator.start({ appendRecords })),
        (emulator) => Effect.promise(() => emulator.stop())
      )
      const layer = KurrentStore.layer({ connectionString: emulator.connectionString })
      yield* Effect.gen(function*() {
        const store = yield* Lease.LeaseStore
        const events = yield* EventStore.EventStore
        const commit = (lease: Lease.Lease, position: bigint) =>
          Lease.withFencing(lease)(
            Effect.flatMap(Consumer.Checkpoints, (checkpoints) => checkpoints.commit("c1", position, Effect.void))
          )
        const name = `check-${Date.now()}`
        const stream = `$strata-lease-${name}`
        const held = Option.getOrThrow(yield* store.acquire(name, "a", Duration.seconds(30)))
        const before = emulator.database.lastEventNumber(stream)
        yield* commit(held, 5n)
        assert.deepStrictEqual(yield* events.loadCheckpoint("c1"), Option.some(5n))
        assert.strictEqual(emulator.database.lastEventNumber(stream), appendRecords ? before : before + 1n)
        if (!appendRecords) return
        // Another process's takeover lands after this holder read its lease and before its write.
        const { writeRecords } = emulator.database
        emulator.database.writeRecords = (...args) => {
          emulator.database.writeRecords = writeRecords
          emulator.database.write([{
            stream,
            expected: -2n,
            events: [{
              id: crypto.randomUUID(),
              type: "$strata.lease",
              contentType: "application/json",
              data: Buffer.from(JSON.stringify({ holder: "b", token: "9", expiresAt: Date.now() + 60_000 })),
              metadata: new Uint8Array()
            }]
          }])
          return writeRecords.apply(emulator.database, args)
        }
        const lost = yield* Effect.flip(commit(held, 9n))
        assert.strictEqual(lost._tag, "LeaseLost")
        assert.deepStrictEqual(yield* events.loadCheckpoint("c1"), Option.some(5n))
      }).pipe(Effect.provide(Layer.fresh(layer)))
    }
  }).pipe(Effect.scoped))
