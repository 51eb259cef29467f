/**
 * Behaviours the official client's own tests (KurrentDB-Client-NodeJS, run by hand against the
 * emulator; see the README) found missing or wrong, each pinned here with the server source it follows
 * (github.com/kurrent-io/KurrentDB at 44996ed0):
 * - `Streams.BatchAppend.cs`, `BatchAppendResp.cs`, `Status.cs`, `WrongExpectedVersion.cs`
 *   = src/KurrentDB.Core/Services/Transport/Grpc/...
 * - `ServerFeatures.cs` = src/KurrentDB.Core/Services/Transport/Grpc/ServerFeatures.cs
 * - `Streams.Append.cs` = src/KurrentDB.Core/Services/Transport/Grpc/Streams.Append.cs
 * - `StorageWriterService.cs` = src/KurrentDB.Core/Services/Storage/StorageWriterService.cs
 * - `StorageReaderWorker.cs` = src/KurrentDB.Core/Services/Storage/StorageReaderWorker.cs
 * - `ReadIndex.cs` = src/KurrentDB.Core/Services/Storage/ReaderIndex/ReadIndex.cs
 * - `UserManagementService.cs` = src/KurrentDB.Core/Authentication/InternalAuthentication/UserManagementService.cs
 * - `TFConsts.cs`, `ClusterVNodeOptions.cs`, `ClusterVNodeStartup.cs`, `ApiV2Plugin.cs` (size limits)
 *
 * Every append test runs in both modes: BatchAppend advertised (what a current server does, so the
 * client appends through it) and the older mode (BatchAppend not served, the client uses Append).
 */
import { afterAll, assert, beforeAll, describe, it, vi } from "@effect/vitest"
import {
  BACKWARDS,
  binaryEvent,
  END,
  jsonEvent,
  KurrentDBClient,
  type ResolvedEvent,
  START,
  WrongExpectedVersionError
} from "@kurrent/kurrentdb-client"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"

let counter = 0
const fresh = (prefix = "s") => `${prefix}-${Date.now().toString(36)}-${++counter}`
const event = (type = "Happened", data: Record<string, unknown> = {}) => jsonEvent({ type, data })

const collect = async (iterable: AsyncIterable<ResolvedEvent>) => {
  const out: Array<ResolvedEvent> = []
  for await (const e of iterable) out.push(e)
  return out
}

const errorOf = async (promise: Promise<unknown>): Promise<{ type: string } & Record<string, unknown>> => {
  try {
    await promise
  } catch (error) {
    return error as { type: string } & Record<string, unknown>
  }
  throw new Error("expected a failure")
}

const MiB = 1024 * 1024

describe.each([
  { mode: "BatchAppend advertised", batchAppend: true },
  { mode: "older mode (Append)", batchAppend: false }
])("KurrentDB emulator, $mode", ({ batchAppend }) => {
  let emulator: KurrentEmulator.KurrentEmulator
  let client: KurrentDBClient

  beforeAll(async () => {
    emulator = await KurrentEmulator.start({ batchAppend })
    client = KurrentDBClient.connectionString(emulator.connectionString)
  })

  afterAll(async () => {
    await client.dispose()
    await emulator.stop()
  })

  const readStream = (stream: string, options: Parameters<KurrentDBClient["readStream"]>[1] = {}) =>
    collect(client.readStream(stream, options))

  // ServerFeatures.cs lists BatchAppend (with "deadline_duration") on every server since 21.10, and the
  // client's appendToStream takes it whenever it is listed; the older mode leaves it out.
  // The client's own test spies on `GRPCStreamCreator`, which only the BatchAppend path calls.
  it(`appends go through ${batchAppend ? "BatchAppend" : "Append"}`, async () => {
    const other = KurrentDBClient.connectionString(emulator.connectionString)
    const spy = vi.spyOn(other as unknown as { GRPCStreamCreator: () => unknown }, "GRPCStreamCreator")
    try {
      const result = await other.appendToStream(fresh(), [event(), event()])
      assert.strictEqual(result.nextExpectedRevision, 1n)
      assert.strictEqual(spy.mock.calls.length, batchAppend ? 1 : 0)
    } finally {
      await other.dispose()
    }
  })

  describe("failures decode on both paths", () => {
    // Status.WrongExpectedVersion / WrongExpectedVersion.Create (BatchAppend), AppendResp (Append):
    // the client's WrongExpectedVersionError carries the actual revision Strata reads.
    it("a wrong expected revision reports the actual revision", async () => {
      const stream = fresh()
      await client.appendToStream(stream, [event(), event(), event()])
      const error = await errorOf(client.appendToStream(stream, event(), { streamState: 0n }))
      assert.instanceOf(error, WrongExpectedVersionError)
      assert.strictEqual(error.actualState, 2n)
      assert.strictEqual(error.expectedState, 0n)
      assert.strictEqual(error.streamName, stream)
    })

    it("stream_exists on a missing stream reports no_stream as the actual state", async () => {
      const error = await errorOf(client.appendToStream(fresh(), event(), { streamState: "stream_exists" }))
      assert.instanceOf(error, WrongExpectedVersionError)
      assert.strictEqual(error.actualState, "no_stream")
    })

    // Status.StreamDeleted (BatchAppend), RpcExceptions.StreamDeleted (Append).
    it("an append to a tombstoned stream is stream-deleted", async () => {
      const stream = fresh()
      await client.appendToStream(stream, event())
      await client.tombstoneStream(stream)
      const error = await errorOf(client.appendToStream(stream, event()))
      assert.strictEqual(error.type, "stream-deleted")
      assert.strictEqual(error.streamName, stream)
    })
  })

  describe("empty appends", () => {
    // Streams.Append.cs / BatchAppendResp.Success.Completed: last event number -1 is no_stream.
    it("to a missing stream succeed with no stream", async () => {
      // (It used to fail with INTERNAL "Error serializing response": -1 written into an unsigned field.)
      // The client reads the revision of a no_stream success as 0n (`BigInt(getCurrentRevision())`).
      const stream = fresh()
      const result = await client.appendToStream(stream, [], { streamState: "no_stream" })
      assert.isTrue(result.success)
      assert.strictEqual((await errorOf(readStream(stream))).type, "stream-not-found")
    })

    it("to an existing stream succeed with its current revision and write nothing", async () => {
      const stream = fresh()
      await client.appendToStream(stream, [event(), event()])
      const result = await client.appendToStream(stream, [], { streamState: 1n })
      assert.strictEqual(result.nextExpectedRevision, 1n)
      assert.strictEqual((await readStream(stream)).length, 2)
      const error = await errorOf(client.appendToStream(stream, [], { streamState: 0n }))
      assert.instanceOf(error, WrongExpectedVersionError)
    })

    // StorageWriterService.cs: "for backwards compatibility, an empty write ... causes undeletion, too".
    it("to a soft-deleted stream undelete it: $tb moves to the next revision", async () => {
      const stream = fresh()
      await client.appendToStream(stream, [event(), event(), event()])
      await client.deleteStream(stream)
      assert.strictEqual((await errorOf(readStream(stream))).type, "stream-not-found")
      const result = await client.appendToStream(stream, [])
      assert.strictEqual(result.nextExpectedRevision, 2n)
      assert.deepStrictEqual(await readStream(stream), [])
      const metadata = await client.getStreamMetadata(stream)
      assert.strictEqual(metadata.metadata?.truncateBefore, 3)
      await client.appendToStream(stream, event("After"))
      assert.deepStrictEqual((await readStream(stream)).map((e) => e.event!.revision), [3n])
    })
  })

  describe("sizes", () => {
    // TFConsts.MaxLogRecordSize (16 MiB) is the largest event; grpc-js's 4 MiB default is not the server's.
    it("an event of 5 MiB appends and reads back, in a stream read and a subscription", async () => {
      const stream = fresh()
      const data = new Uint8Array(5 * MiB).fill(7)
      await client.appendToStream(stream, binaryEvent({ type: "Big", data }))
      const [read] = await readStream(stream)
      assert.strictEqual((read.event!.data as Uint8Array).length, 5 * MiB)
      const subscription = client.subscribeToStream(stream, { fromRevision: START })
      try {
        for await (const e of subscription) {
          assert.strictEqual((e.event!.data as Uint8Array).length, 5 * MiB)
          break
        }
      } finally {
        await subscription.unsubscribe()
      }
    })

    it("an event over 16 MiB is refused and nothing is written", async () => {
      const stream = fresh()
      const error = await errorOf(
        client.appendToStream(stream, binaryEvent({ type: "Huge", data: new Uint8Array(16 * MiB + 1) }))
      )
      assert.notStrictEqual(error.type, "wrong-expected-version")
      assert.strictEqual((await errorOf(readStream(stream))).type, "stream-not-found")
    })

    // ApiV2Plugin.cs: the v2 service accepts requests up to 1.5 x MaxAppendSize (384 MiB).
    it("a multi-stream append of 6 MiB for one stream is written", async () => {
      const a = fresh()
      const b = fresh()
      const chunk = () => binaryEvent({ type: "Chunk", data: new Uint8Array(2 * MiB).fill(1) })
      await client.multiStreamAppend([
        { streamName: a, expectedState: "no_stream", events: [chunk(), chunk(), chunk()] },
        { streamName: b, expectedState: "no_stream", events: [event()] }
      ])
      assert.strictEqual((await readStream(a)).length, 3)
    })
  })

  describe("reads", () => {
    // StorageReaderWorker.ResolveLinkToEvent: with resolveLinkTos, a `$>` record (data
    // "<revision>@<stream>") is read as its target, the link beside it; without, as itself.
    it("resolveLinkTos resolves `$>` links in stream reads and $all", async () => {
      const target = fresh("to")
      const from = fresh("from")
      await client.appendToStream(target, [event("A"), event("B"), event("C")])
      await client.appendToStream(from, binaryEvent({ type: "$>", data: Buffer.from(`1@${target}`) }))
      const [plain] = await readStream(from)
      assert.strictEqual(plain.event!.type, "$>")
      assert.isUndefined(plain.link)
      const [resolved] = await readStream(from, { resolveLinkTos: true })
      assert.strictEqual(resolved.event!.type, "B")
      assert.strictEqual(resolved.event!.streamId, target)
      assert.strictEqual(resolved.link!.streamId, from)
      const all = await collect(
        client.readAll({ resolveLinkTos: true, direction: BACKWARDS, fromPosition: END, maxCount: 1 })
      )
      assert.strictEqual(all[0].event!.type, "B")
      assert.strictEqual(all[0].link!.type, "$>")
    })

    // ReadIndex.cs: every metastream reads with `maxCount: 1`, so `$$stream` is its latest metadata.
    it("a metastream read returns only the latest metadata", async () => {
      const stream = fresh()
      await client.setStreamMetadata(stream, { maxCount: 10 })
      await client.setStreamMetadata(stream, { maxCount: 20 })
      const events = await readStream(`$$${stream}`)
      assert.strictEqual(events.length, 1)
      assert.strictEqual(events[0].event!.revision, 1n)
      assert.deepStrictEqual((events[0].event!.data as { $maxCount: number }).$maxCount, 20)
    })

    // UserManagementService.cs, SystemNames.cs: a fresh node's $all starts with system records.
    it("a fresh node's $all holds system events before any client writes", async () => {
      const node = await KurrentEmulator.start({ batchAppend })
      const fresh = KurrentDBClient.connectionString(node.connectionString)
      try {
        const all = await collect(fresh.readAll())
        assert.isAbove(all.length, 0)
        assert.isTrue(all.every((e) => e.event!.streamId.startsWith("$")))
        assert.deepStrictEqual(
          all.filter((e) => e.event!.streamId === "$users").map((e) =>
            Buffer.from(e.event!.data as Uint8Array).toString()
          ),
          ["admin", "ops"]
        )
      } finally {
        await fresh.dispose()
        await node.stop()
      }
    })
  })
})
