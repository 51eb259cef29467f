/**
 * The emulator driven by the raw `@kurrent/kurrentdb-client` 1.3.1 (no Strata code), one documented
 * KurrentDB behaviour per test, with the source it follows beside it.
 *
 * Source references are to github.com/kurrent-io/KurrentDB at 44996ed0 (2026-07-24):
 * - `IndexWriter.cs` = src/KurrentDB.Core/Services/Storage/ReaderIndex/IndexWriter.cs (CheckCommit)
 * - `StorageWriterService.cs` = src/KurrentDB.Core/Services/Storage/StorageWriterService.cs
 * - `RequestManagerBase.cs` = src/KurrentDB.Core/Services/RequestManager/Managers/RequestManagerBase.cs
 * - `RpcExceptions.cs` = src/KurrentDB.Core/Services/Transport/Grpc/RpcExceptions.cs
 * - `AllReader.cs` = src/KurrentDB.Core/Services/Storage/ReaderIndex/AllReader.cs
 * - `StreamsService.cs` (v2) = src/KurrentDB.Api.V2/Modules/Streams/StreamsService.cs
 * - `EventRecord.cs` = src/KurrentDB.Core/Data/EventRecord.cs
 * Docs: https://docs.kurrent.io/server/v25.1/features/streams.html (deleting streams, metadata).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import {
  type AppendStreamState,
  BACKWARDS,
  END,
  eventTypeFilter,
  FORWARDS,
  jsonEvent,
  KurrentDBClient,
  type ResolvedEvent,
  START,
  streamNameFilter
} from "@kurrent/kurrentdb-client"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"

let emulator: KurrentEmulator.KurrentEmulator
let client: KurrentDBClient
let counter = 0
const fresh = (prefix = "s") => `${prefix}-${Date.now().toString(36)}-${++counter}`

const event = (type = "Happened", data: Record<string, unknown> = {}, id?: string) =>
  jsonEvent({ type, data, ...(id === undefined ? {} : { id }) })

const readStream = async (stream: string, options: Parameters<KurrentDBClient["readStream"]>[1] = {}) => {
  const out: Array<ResolvedEvent> = []
  for await (const e of client.readStream(stream, options)) out.push(e)
  return out
}

const readAll = async (options: Parameters<KurrentDBClient["readAll"]>[0] = {}) => {
  const out: Array<ResolvedEvent> = []
  for await (const e of client.readAll(options)) out.push(e)
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

const append = (stream: string, events: Array<ReturnType<typeof event>>, streamState: AppendStreamState = "any") =>
  client.appendToStream(stream, events, { streamState })

beforeAll(async () => {
  emulator = await KurrentEmulator.start()
  client = KurrentDBClient.connectionString(emulator.connectionString)
})

afterAll(async () => {
  await client.dispose()
  await emulator.stop()
})

describe("KurrentDB emulator (raw client)", () => {
  describe("append and expected revisions", () => {
    // IndexWriter.cs CheckCommit: "writing exactly to the end (expectedVersion == currentVersion) -> ok".
    it("revisions count from 0 and the result names the last one and its position", async () => {
      const stream = fresh()
      const first = await append(stream, [event(), event()], "no_stream")
      assert.strictEqual(first.nextExpectedRevision, 1n)
      const second = await append(stream, [event()], 1n)
      assert.strictEqual(second.nextExpectedRevision, 2n)
      assert.isTrue(second.position!.commit > first.position!.commit)
    })

    // IndexWriter.cs CheckCommit: "writing after the end -> fail"; AppendResp.WrongExpectedVersion carries the
    // current revision (streams.proto), which the client reports as actualState.
    it("a wrong exact revision is refused with the current revision", async () => {
      const stream = fresh()
      await append(stream, [event(), event(), event()])
      const error = await errorOf(append(stream, [event()], 7n))
      assert.strictEqual(error.type, "wrong-expected-version")
      assert.strictEqual(error.actualState, 2n)
    })

    // IndexWriter.cs CheckCommit: StreamExists on a stream with no events and no metadata fails.
    it("stream_exists on a missing stream is refused with no_stream", async () => {
      const error = await errorOf(append(fresh(), [event()], "stream_exists"))
      assert.strictEqual(error.type, "wrong-expected-version")
      assert.strictEqual(error.actualState, "no_stream")
    })

    // IndexWriter.cs CheckCommit: no_stream (-1) against an existing stream takes the strong idempotency
    // branch; a first event that is not already at revision 0 fails.
    it("no_stream on an existing stream is refused", async () => {
      const stream = fresh()
      await append(stream, [event()])
      const error = await errorOf(append(stream, [event()], "no_stream"))
      assert.strictEqual(error.type, "wrong-expected-version")
      assert.strictEqual(error.actualState, 0n)
    })

    // Event ids are UUIDs: the client sends the id string as given, the server parses it as a Guid
    // (Streams.Append.cs, Uuid.FromDto) and fails the call. The exact status is not documented (README).
    it("an event id that is not a UUID fails the append and writes nothing", async () => {
      const stream = fresh()
      const error = await errorOf(append(stream, [jsonEvent({ id: "not-a-uuid", type: "T", data: {} })]))
      assert.isString(error.type)
      assert.strictEqual((await errorOf(readStream(stream))).type, "stream-not-found")
    })
  })

  describe("idempotent appends", () => {
    // IndexWriter.cs CheckCommit, strong idempotency: the ids at expected+1.. are the stored ones -> Idempotent,
    // answered with the original last revision (RequestManagerBase.cs Handle(AlreadyCommitted)).
    it("retrying a no_stream append with the same ids returns the original result and writes nothing", async () => {
      const stream = fresh()
      const batch = [event(), event()]
      const first = await append(stream, batch, "no_stream")
      const again = await append(stream, batch, "no_stream")
      assert.strictEqual(again.nextExpectedRevision, first.nextExpectedRevision)
      assert.deepStrictEqual(again.position, first.position)
      assert.strictEqual((await readStream(stream)).length, 2)
    })

    // IndexWriter.cs CheckCommit, weak idempotency for Any: ids found in the stream -> Idempotent.
    it("re-appending an earlier batch with any after later appends is idempotent", async () => {
      const stream = fresh()
      const early = [event()]
      const first = await append(stream, early)
      await append(stream, [event()])
      const again = await append(stream, early)
      assert.strictEqual(again.nextExpectedRevision, first.nextExpectedRevision)
      assert.strictEqual((await readStream(stream)).length, 2)
    })

    // IndexWriter.cs CheckCommit: a stored first id followed by a new one is CorruptedIdempotency, which
    // StorageWriterService.cs counts as a consistency failure (wrong expected version).
    it("a stored id followed by a new one is refused as a wrong expected version", async () => {
      const stream = fresh()
      const stored = event()
      await append(stream, [stored])
      const error = await errorOf(append(stream, [stored, event()]))
      assert.strictEqual(error.type, "wrong-expected-version")
      assert.strictEqual((await readStream(stream)).length, 1)
    })

    // IndexWriter.cs CheckCommit: idempotency looks only in the same stream (StreamIdComparer.Equals), so the
    // same id in another stream is a new event. Ids are not unique across the database.
    it("the same id in another stream is written again", async () => {
      const shared = event()
      await append(fresh(), [shared])
      const other = fresh()
      await append(other, [shared])
      assert.strictEqual((await readStream(other))[0].event!.id, shared.id)
    })
  })

  describe("soft delete", () => {
    // StorageWriterService.cs, SOFT DELETE: the metastream gets { "$tb": long.MaxValue } (EventNumber.DeletedStream).
    it("writes $tb = long.MaxValue to the $$stream metadata, and reads say stream not found", async () => {
      const stream = fresh()
      await append(stream, [event(), event()])
      await client.deleteStream(stream)
      const meta = await readStream(`$$${stream}`, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })
      assert.strictEqual(meta[0].event!.type, "$metadata")
      assert.strictEqual(Number((meta[0].event!.data as Record<string, number>)["$tb"]), 9223372036854775807)
      const error = await errorOf(readStream(stream))
      assert.strictEqual(error.type, "stream-not-found")
    })

    // IndexWriter.cs CheckCommit: "expecting no stream covering soft deleted" -> Ok; StorageWriterService.cs
    // SoftUndeleteStream rewrites $tb to the first new revision, so numbering resumes and old events stay hidden.
    it("no_stream succeeds on a soft-deleted stream, numbering resumes and only new events are visible", async () => {
      const stream = fresh()
      await append(stream, [event(), event(), event()])
      await client.deleteStream(stream)
      const result = await append(stream, [event("New")], "no_stream")
      assert.strictEqual(result.nextExpectedRevision, 3n)
      const visible = await readStream(stream)
      assert.deepStrictEqual(visible.map((e) => e.event!.revision), [3n])
      const meta = await client.getStreamMetadata(stream)
      assert.strictEqual(Number(meta.metadata?.truncateBefore), 3)
    })

    // IndexWriter.cs CheckCommit: exact revision == current revision is Ok whether or not the stream is soft-deleted.
    it("the last revision still matches a soft-deleted stream", async () => {
      const stream = fresh()
      await append(stream, [event(), event()])
      await client.deleteStream(stream)
      const result = await append(stream, [event()], 1n)
      assert.strictEqual(result.nextExpectedRevision, 2n)
    })

    // RequestManagerBase.cs Handle(ConsistencyChecksFailed): StreamExists on a soft-deleted stream is StreamDeleted.
    it("stream_exists on a soft-deleted stream is refused as stream deleted", async () => {
      const stream = fresh()
      await append(stream, [event()])
      await client.deleteStream(stream)
      const error = await errorOf(append(stream, [event()], "stream_exists"))
      assert.strictEqual(error.type, "stream-deleted")
    })

    // StorageWriterService.cs, SOFT DELETE: "stream has never existed" -> consistency check failure.
    it("deleting a stream that never existed is refused as a wrong expected version", async () => {
      const error = await errorOf(client.deleteStream(fresh()))
      assert.strictEqual(error.type, "wrong-expected-version")
    })

    // Soft delete rewrites no events: $all keeps them (docs: "deleted events stay in $all until scavenged").
    it("$all still carries a soft-deleted stream's events", async () => {
      const stream = fresh("softall")
      await append(stream, [event(), event()])
      await client.deleteStream(stream)
      const all = await readAll({ filter: streamNameFilter({ prefixes: [stream] }) })
      assert.strictEqual(all.length, 2)
    })
  })

  describe("tombstone", () => {
    // IndexWriter.cs CheckCommit: DeletedStream with events -> failure in every mode; RpcExceptions.cs StreamDeleted.
    it("is permanent: every append and read fails with stream deleted", async () => {
      const stream = fresh()
      await append(stream, [event()])
      await client.tombstoneStream(stream)
      for (const state of ["any", "no_stream", "stream_exists", 0n] as const) {
        assert.strictEqual((await errorOf(append(stream, [event()], state))).type, "stream-deleted")
      }
      assert.strictEqual((await errorOf(readStream(stream))).type, "stream-deleted")
      assert.strictEqual((await errorOf(client.tombstoneStream(stream))).type, "stream-deleted")
    })

    // StorageWriterService.cs, HARD DELETE writes a $streamDeleted record; it shows in $all.
    it("writes a $streamDeleted record to $all", async () => {
      const stream = fresh("tomball")
      await append(stream, [event()])
      await client.tombstoneStream(stream)
      const all = await readAll({ filter: streamNameFilter({ prefixes: [stream] }) })
      assert.deepStrictEqual(all.map((e) => e.event!.type), ["Happened", "$streamDeleted"])
    })

    // IndexReader.cs GetStreamLastEventNumberCached: the metastream of a tombstoned stream is deleted as well.
    it("closes the stream's metadata too", async () => {
      const stream = fresh()
      await client.tombstoneStream(stream)
      const error = await errorOf(client.setStreamMetadata(stream, { maxCount: 1 }))
      assert.strictEqual(error.type, "stream-deleted")
    })
  })

  describe("retention metadata", () => {
    // docs (stream metadata): $tb, $maxCount, $maxAge hide events from stream reads, not from $all.
    it("$maxCount and $tb apply to stream reads and not to $all", async () => {
      const stream = fresh("ret")
      await append(stream, [event(), event(), event(), event()])
      await client.setStreamMetadata(stream, { maxCount: 2 })
      assert.deepStrictEqual((await readStream(stream)).map((e) => e.event!.revision), [2n, 3n])
      await client.setStreamMetadata(stream, { truncateBefore: 3 })
      assert.deepStrictEqual((await readStream(stream)).map((e) => e.event!.revision), [3n])
      assert.strictEqual((await readAll({ filter: streamNameFilter({ prefixes: [stream] }) })).length, 4)
    })

    // docs: $maxAge is in seconds.
    it("$maxAge hides events older than that many seconds", async () => {
      const stream = fresh()
      const now = Date.now()
      emulator.database.now = () => now - 5_000
      await append(stream, [event("Old")])
      emulator.database.now = Date.now
      await append(stream, [event("New")])
      await client.setStreamMetadata(stream, { maxAge: 2 })
      assert.deepStrictEqual((await readStream(stream)).map((e) => e.event!.type), ["New"])
    })
  })

  describe("reads", () => {
    it("read a stream forwards and backwards, from a revision, with a count", async () => {
      const stream = fresh()
      await append(stream, [0, 1, 2, 3, 4].map((i) => event("E", { i })))
      const revisions = (events: Array<ResolvedEvent>) => events.map((e) => e.event!.revision)
      assert.deepStrictEqual(revisions(await readStream(stream, { fromRevision: 2n, maxCount: 2 })), [2n, 3n])
      assert.deepStrictEqual(
        revisions(await readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 2 })),
        [4n, 3n]
      )
      assert.deepStrictEqual(revisions(await readStream(stream, { direction: BACKWARDS, fromRevision: 1n })), [1n, 0n])
    })

    // AllReader.cs: forwards includes the record at the position (>= pos); backwards returns records before it.
    it("$all forwards from a position includes it; backwards from it excludes it", async () => {
      const stream = fresh("allpos")
      await append(stream, [event(), event(), event()])
      const mine = await readAll({ filter: streamNameFilter({ prefixes: [stream] }) })
      const middle = mine[1].event!.position!
      const forwards = await readAll({ fromPosition: middle, filter: streamNameFilter({ prefixes: [stream] }) })
      assert.strictEqual(forwards.length, 2)
      const backwards = await readAll({
        fromPosition: middle,
        direction: BACKWARDS,
        filter: streamNameFilter({ prefixes: [stream] })
      })
      assert.strictEqual(backwards.length, 1)
    })

    // EventFilter: one filter per read, on event type or stream name, by regex or prefixes.
    it("$all filters by event type regex and by stream-name prefix", async () => {
      const stream = fresh("filt")
      await append(stream, [event("Alpha"), event("Beta"), event("Alpha")])
      const alphas = await readAll({
        filter: eventTypeFilter({ regex: "^Alpha$" }),
        direction: FORWARDS,
        fromPosition: START
      })
      assert.isTrue(alphas.every((e) => e.event!.type === "Alpha"))
      assert.strictEqual(alphas.filter((e) => e.event!.streamId === stream).length, 2)
    })

    it("data and metadata round-trip as JSON", async () => {
      const stream = fresh()
      await client.appendToStream(stream, jsonEvent({ type: "T", data: { a: [1, "x"] }, metadata: { m: true } }))
      const [read] = await readStream(stream)
      assert.deepStrictEqual(read.event!.data, { a: [1, "x"] })
      assert.deepStrictEqual(read.event!.metadata, { m: true })
    })
  })

  describe("subscriptions", () => {
    // Streams.Read subscription: confirmation, catch-up, CaughtUp (>= 23.10), then live events.
    it("a stream subscription catches up, reports caught up, then delivers live events", async () => {
      const stream = fresh()
      await append(stream, [event(), event()])
      const subscription = client.subscribeToStream(stream, { fromRevision: START })
      let caughtUp = false
      subscription.on("caughtUp", () => {
        caughtUp = true
      })
      const seen: Array<bigint> = []
      for await (const e of subscription) {
        seen.push(e.event!.revision)
        if (seen.length === 2) {
          await new Promise((resolve) => setTimeout(resolve, 50))
          assert.isTrue(caughtUp)
          await append(stream, [event()])
        }
        if (seen.length === 3) break
      }
      await subscription.unsubscribe()
      assert.deepStrictEqual(seen, [0n, 1n, 2n])
    })

    // Subscriptions from a revision/position start after it (exclusive).
    it("a subscription from a revision starts after it", async () => {
      const stream = fresh()
      await append(stream, [event(), event(), event()])
      const subscription = client.subscribeToStream(stream, { fromRevision: 0n })
      const seen: Array<bigint> = []
      for await (const e of subscription) {
        seen.push(e.event!.revision)
        if (seen.length === 2) break
      }
      await subscription.unsubscribe()
      assert.deepStrictEqual(seen, [1n, 2n])
    })

    // Filtered $all subscriptions send checkpoints (FilterOptions window x checkpointIntervalMultiplier).
    it("a filtered $all subscription delivers matching events and checkpoints", async () => {
      const stream = fresh("subf")
      const type = `Only${counter}`
      let checkpoints = 0
      const subscription = client.subscribeToAll({
        fromPosition: START,
        filter: eventTypeFilter({ prefixes: [type], checkpointReached: () => void checkpoints++ })
      })
      await append(stream, [event(type), event("Other"), event(type)])
      const seen: Array<string> = []
      for await (const e of subscription) {
        seen.push(e.event!.type)
        if (seen.length === 2) break
      }
      await subscription.unsubscribe()
      assert.deepStrictEqual(seen, [type, type])
      assert.isAbove(checkpoints, 0)
    })

    // RpcExceptions.cs StreamDeleted, sent on the Read call (call.emit("error")).
    it("subscribing to a tombstoned stream fails with stream deleted", async () => {
      const stream = fresh()
      await client.tombstoneStream(stream)
      const subscription = client.subscribeToStream(stream)
      const error = await errorOf((async () => {
        for await (const _ of subscription) break
      })())
      assert.strictEqual(error.type, "stream-deleted")
    })
  })

  describe("multi-stream append (v2 AppendSession, 25.1)", () => {
    // StreamsService.cs AppendSession: all parts in one WriteEvents; one position for the transaction.
    it("writes every part atomically and answers one revision per stream", async () => {
      const a = fresh()
      const b = fresh()
      const result = await client.multiStreamAppend([
        { streamName: a, expectedState: "no_stream", events: [event()] },
        { streamName: b, expectedState: "any", events: [event(), event()] }
      ])
      assert.deepStrictEqual(result.responses.map((r) => r.revision), [0n, 1n])
      assert.strictEqual((await readStream(b)).length, 2)
    })

    // StreamsService.cs MapToError: WrongExpectedVersion -> StreamRevisionConflict (FAILED_PRECONDITION,
    // details in grpc-status-details-bin), and nothing is written.
    it("a conflicting part fails the whole append with a revision conflict", async () => {
      const a = fresh()
      const b = fresh()
      await append(b, [event()])
      const error = await errorOf(client.multiStreamAppend([
        { streamName: a, expectedState: "any", events: [event()] },
        { streamName: b, expectedState: "no_stream", events: [event()] }
      ]))
      assert.strictEqual(error.type, "wrong-expected-version")
      assert.strictEqual(error.streamName, b)
      assert.strictEqual((await errorOf(readStream(a))).type, "stream-not-found")
    })

    // StreamsService.cs MapToError: OperationResult.StreamDeleted -> StreamTombstoned.
    it("a tombstoned part fails with stream tombstoned", async () => {
      const a = fresh()
      await client.tombstoneStream(a)
      const error = await errorOf(
        client.multiStreamAppend([{ streamName: a, expectedState: "any", events: [event()] }])
      )
      assert.strictEqual(error.type, "stream-tombstoned")
    })

    // StreamsService.cs WithRequest: the same stream twice (case-insensitively) -> StreamAlreadyInAppendSession.
    it("the same stream twice in one session is refused", async () => {
      const a = fresh()
      const error = await errorOf(client.multiStreamAppend([
        { streamName: a, expectedState: "any", events: [event()] },
        { streamName: a.toUpperCase(), expectedState: "any", events: [event()] }
      ]))
      assert.notStrictEqual(error.type, undefined)
      assert.strictEqual((await errorOf(readStream(a))).type, "stream-not-found")
    })

    // EventRecord.cs SynthesizeMetadataFromProperties: properties read back as JSON metadata plus
    // $schema.name and $schema.format.
    it("record properties read back as JSON metadata with the schema name and format", async () => {
      const a = fresh()
      await client.multiStreamAppend([{
        streamName: a,
        expectedState: "any",
        events: [jsonEvent({ type: "WithProps", data: { x: 1 }, metadata: { k: "v" } })]
      }])
      const [read] = await readStream(a)
      assert.deepStrictEqual(read.event!.metadata, { k: "v", "$schema.name": "WithProps", "$schema.format": "Json" })
    })

    // ServerFeatures: a server without AppendSession makes the client refuse multiStreamAppend itself.
    it("a server before 25.1 makes the client refuse multiStreamAppend", async () => {
      const old = await KurrentEmulator.start({ serverVersion: "24.10.0", multiStreamAppend: false })
      const oldClient = KurrentDBClient.connectionString(old.connectionString)
      try {
        const error = await errorOf(
          oldClient.multiStreamAppend([{ streamName: fresh(), expectedState: "any", events: [event()] }])
        )
        assert.strictEqual(error.type, "unsupported")
      } finally {
        await oldClient.dispose()
        await old.stop()
      }
    })
  })

  describe("availability", () => {
    it("an unavailable node answers UNAVAILABLE, which the client reports as unavailable", async () => {
      emulator.unavailable = true
      try {
        const error = await errorOf(append(fresh(), [event()]))
        assert.strictEqual(error.type, "unavailable")
      } finally {
        emulator.unavailable = false
      }
    })
  })
})
