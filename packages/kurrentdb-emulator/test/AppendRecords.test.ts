/**
 * AppendRecords (KurrentDB 26.1: the multi-stream append with consistency checks), driven by the raw
 * client, each behaviour with the server source it follows (github.com/kurrent-io/KurrentDB at 44996ed0):
 * - `StreamsService.cs` = src/KurrentDB.Api.V2/Modules/Streams/StreamsService.cs (`AppendRecordsCommand`)
 * - `ConsistencyCheckValidator.cs`, `AppendRecordsRequestValidator.cs` = src/KurrentDB.Api.V2/Modules/Streams/Validators/
 * - `ApiErrors.cs` = src/KurrentDB.Api.V2/Modules/Streams/ApiErrors.cs (`AppendConsistencyViolation`)
 * - `IndexWriter.cs` = src/KurrentDB.Core/Services/Storage/ReaderIndex/IndexWriter.cs (`CheckCommit`)
 * - streams.proto = proto/kurrentdb/protocol/v2/streams/streams.proto
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { jsonEvent, KurrentDBClient, type ResolvedEvent, START } from "@kurrent/kurrentdb-client"
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

type Violation = { checkIndex: number; streamName: string; expectedState: unknown; actualState: unknown }

describe("AppendRecords, current mode (26.1)", () => {
  let emulator: KurrentEmulator.KurrentEmulator
  let client: KurrentDBClient

  beforeAll(async () => {
    emulator = await KurrentEmulator.start()
    client = KurrentDBClient.connectionString(emulator.connectionString)
  })
  afterAll(async () => {
    await client.dispose()
    await emulator.stop()
  })

  const check = (streamName: string, expectedState: bigint | "no_stream" | "stream_exists") => ({
    type: "stream_state" as const,
    streamName,
    expectedState
  })

  // streams.proto: "the global log preserves the exact sequence from the request".
  it("records interleaved across streams keep the request's order in $all", async () => {
    const [a, b] = [fresh("a"), fresh("b")]
    const result = await client.appendRecords([
      { streamName: a, record: event("A1") },
      { streamName: b, record: event("B1") },
      { streamName: a, record: event("A2") }
    ])
    const revisions = new Map(result.responses.map((r) => [r.streamName, r.revision]))
    assert.deepStrictEqual([revisions.get(a), revisions.get(b)], [1n, 0n])
    const all = (await collect(client.readAll({ fromPosition: START })))
      .map((e) => e.event!)
      .filter((e) => e.streamId === a || e.streamId === b)
    assert.deepStrictEqual(all.map((e) => e.type), ["A1", "B1", "A2"])
    assert.strictEqual(result.position, all[2].position!.commit)
  })

  // StreamsService.cs: a check on a stream the request does not write is evaluated, and nothing is written there.
  it("a check on a stream not written holds the write to it, and writes nothing to it", async () => {
    const [guard, target] = [fresh("guard"), fresh("target")]
    await client.appendToStream(guard, [event()])
    const ok = await client.appendRecords([{ streamName: target, record: event() }], [check(guard, 0n)])
    assert.deepStrictEqual(ok.responses.map((r) => r.streamName), [target])
    assert.strictEqual((await collect(client.readStream(guard))).length, 1)

    await client.appendToStream(guard, [event()])
    const error = await errorOf(client.appendRecords([{ streamName: target, record: event() }], [check(guard, 0n)]))
    assert.strictEqual(error.type, "append-consistency-violation")
    const violations = error.violations as ReadonlyArray<Violation>
    assert.deepStrictEqual(violations.map((v) => [v.checkIndex, v.streamName, v.expectedState, v.actualState]), [
      [0, guard, 0n, 1n]
    ])
    assert.strictEqual((await collect(client.readStream(target))).length, 1, "nothing written")
  })

  // StreamsService.cs (MapViolations): every failing check is reported, with its index and actual state.
  it("every failing check is reported; no record of the request is written", async () => {
    const [exists, missing, ok, target] = [fresh("exists"), fresh("missing"), fresh("ok"), fresh("target")]
    await client.appendToStream(exists, [event(), event()])
    await client.appendToStream(ok, [event()])
    const error = await errorOf(client.appendRecords(
      [{ streamName: target, record: event() }],
      [check(exists, "no_stream"), check(ok, 0n), check(missing, "stream_exists")]
    ))
    const violations = error.violations as ReadonlyArray<Violation>
    assert.deepStrictEqual(violations.map((v) => [v.checkIndex, v.streamName, v.expectedState, v.actualState]), [
      [0, exists, "no_stream", 1n],
      [2, missing, "stream_exists", "no_stream"]
    ])
    assert.strictEqual(emulator.database.lastEventNumber(target), -1n)
  })

  // StreamsService.cs (RegisterChecks before PrepareRecords): a check on a written stream is its expected version.
  it("a check on a written stream is that stream's expected revision", async () => {
    const stream = fresh()
    await client.appendToStream(stream, [event()])
    const stale = await errorOf(
      client.appendRecords([{ streamName: stream, record: event() }], [check(stream, "no_stream")])
    )
    assert.strictEqual(stale.type, "append-consistency-violation")
    const ok = await client.appendRecords([{ streamName: stream, record: event() }], [check(stream, 0n)])
    assert.deepStrictEqual(ok.responses.map((r) => r.revision), [1n])
  })

  // ApiErrors.cs matrix, IndexWriter.cs: DELETED holds on a soft-deleted stream only; TOMBSTONED
  // (sent as DeletedStream) holds on a tombstoned stream, which reports -6 to every other check.
  it("DELETED (-5) and TOMBSTONED (-6) checks, and their actual states", async () => {
    const [soft, hard, live, target] = [fresh("soft"), fresh("hard"), fresh("live"), fresh("target")]
    for (const s of [soft, hard, live]) await client.appendToStream(s, [event()])
    await client.deleteStream(soft)
    await client.tombstoneStream(hard)
    await client.appendRecords([{ streamName: target, record: event() }], [check(soft, -5n), check(hard, -6n)])
    const error = await errorOf(client.appendRecords(
      [{ streamName: target, record: event() }],
      [check(live, -5n), check(hard, 0n), check(soft, "stream_exists")]
    ))
    const violations = error.violations as ReadonlyArray<Violation>
    assert.deepStrictEqual(violations.map((v) => [v.streamName, v.actualState]), [
      [live, 0n],
      [hard, -6n],
      [soft, -5n]
    ])
  })

  // ConsistencyCheckValidator.cs, AppendRecordsRequestValidator.cs; RequestValidation.cs answers
  // INVALID_ARGUMENT with a BadRequest, which the client (no exception header) reports as "unknown".
  it("ANY as a check, a stream checked twice, and an empty request are refused as invalid arguments", async () => {
    const stream = fresh()
    const any = await errorOf(
      client.appendRecords([{ streamName: stream, record: event() }], [{ ...check(stream, 0n), expectedState: "any" }])
    )
    assert.deepStrictEqual([any.code, any.message], [
      3,
      "3 INVALID_ARGUMENT: gRPC request AppendRecordsRequest is invalid! See attached details for more information."
    ])
    const twice = await errorOf(
      client.appendRecords([{ streamName: stream, record: event() }], [check(stream, "no_stream"), check(stream, 0n)])
    )
    assert.strictEqual(twice.code, 3)
    const empty = await errorOf(client.appendRecords([], [check(stream, "no_stream")]))
    assert.strictEqual(empty.code, 3)
    assert.strictEqual(emulator.database.lastEventNumber(stream), -1n)
  })

  // IndexWriter.cs: the same ids appended again to the same streams are an idempotent replay.
  it("a replayed request is idempotent: same revisions, nothing written twice", async () => {
    const [a, b] = [fresh("a"), fresh("b")]
    const records = [{ streamName: a, record: event("A") }, { streamName: b, record: event("B") }]
    const first = await client.appendRecords(records, [check(a, "no_stream"), check(b, "no_stream")])
    const again = await client.appendRecords(records, [check(a, "no_stream"), check(b, "no_stream")])
    const revisions = (r: typeof first) => new Map(r.responses.map((x) => [x.streamName, x.revision]))
    assert.deepStrictEqual(revisions(again), revisions(first))
    assert.strictEqual((await collect(client.readStream(a))).length, 1)
  })
})

// ServerFeatures.cs lists AppendRecords only where it is served; the client refuses it before 26.1.
describe("AppendRecords, older mode", () => {
  it("is neither advertised nor served: the client refuses it as unsupported", async () => {
    const emulator = await KurrentEmulator.start({ batchAppend: false })
    const client = KurrentDBClient.connectionString(emulator.connectionString)
    try {
      const error = await errorOf(client.appendRecords([{ streamName: fresh(), record: event() }]))
      assert.strictEqual(error.type, "unsupported")
      // The multi-stream append of 25.1 is still served.
      const result = await client.multiStreamAppend([{ streamName: fresh(), expectedState: "any", events: [event()] }])
      assert.strictEqual(result.responses.length, 1)
    } finally {
      await client.dispose()
      await emulator.stop()
    }
  })
})
