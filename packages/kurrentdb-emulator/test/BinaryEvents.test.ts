/**
 * Non-JSON events (`isJson = false`, content type `application/octet-stream`) through the official
 * client, as Strata's binary events use them: every append path (Append, BatchAppend, the v2
 * AppendSession, AppendRecords) stores the bytes as given, and both read paths (the Rust reader's
 * readStream/readAll, the grpc-js subscriptions) return them byte for byte with `isJson` false. A
 * server keeps an event's data as an opaque byte array and derives the content type from its isJson
 * flag (`Event.cs`, `EventRecord.cs` in KurrentDB.Core; the v2 schema format `Bytes`).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { binaryEvent, KurrentDBClient, type ResolvedEvent, START } from "@kurrent/kurrentdb-client"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"

let counter = 0
const fresh = (prefix = "bin") => `${prefix}-${Date.now().toString(36)}-${++counter}`
const everyByte = () => Uint8Array.from({ length: 256 }, (_, i) => i)

const collect = async (iterable: AsyncIterable<ResolvedEvent>, take = Infinity) => {
  const out: Array<ResolvedEvent> = []
  for await (const e of iterable) {
    out.push(e)
    if (out.length >= take) break
  }
  return out
}

const assertBytes = (event: ResolvedEvent | undefined, expected: Uint8Array, what: string) => {
  assert.isDefined(event?.event, what)
  assert.isFalse(event!.event!.isJson, `${what}: isJson`)
  assert.deepStrictEqual(new Uint8Array(event!.event!.data as Uint8Array), expected, what)
}

describe.each([
  { mode: "BatchAppend advertised", batchAppend: true },
  { mode: "older mode (Append)", batchAppend: false }
])("KurrentDB emulator binary events, $mode", ({ batchAppend }) => {
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

  it("appendToStream stores every byte value and empty data; reads and subscriptions return them as given", async () => {
    const stream = fresh()
    await client.appendToStream(stream, [
      binaryEvent({ type: "Every", data: everyByte() }),
      binaryEvent({ type: "Empty", data: new Uint8Array(0) }),
      binaryEvent({ type: "Meta", data: Uint8Array.of(0, 0xff), metadata: { "strata.contentType": "image/png" } })
    ])
    const read = await collect(client.readStream(stream))
    assertBytes(read[0], everyByte(), "readStream every byte")
    assertBytes(read[1], new Uint8Array(0), "readStream empty")
    assertBytes(read[2], Uint8Array.of(0, 0xff), "readStream with metadata")
    assert.deepStrictEqual(read[2].event!.metadata, { "strata.contentType": "image/png" })
    const all = (await collect(client.readAll({ fromPosition: START }))).filter((e) => e.event?.streamId === stream)
    assertBytes(all[0], everyByte(), "readAll")
    const subscribed = await collect(client.subscribeToStream(stream, { fromRevision: START }), 3)
    assertBytes(subscribed[0], everyByte(), "subscribeToStream")
    assertBytes(subscribed[1], new Uint8Array(0), "subscribeToStream empty")
  })
})

// The v2 appends exist on 25.1 (AppendSession) and 26.1 (AppendRecords): the default emulator serves both.
describe("KurrentDB emulator binary events, v2 appends", () => {
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

  it("the v2 appends (AppendRecords, multiStreamAppend) store bytes as given with their properties", async () => {
    const a = fresh()
    const b = fresh()
    await client.appendRecords([
      {
        streamName: a,
        record: {
          id: crypto.randomUUID(),
          type: "Rec",
          contentType: "application/octet-stream",
          data: everyByte(),
          metadata: { "strata.contentType": "application/x-proto" }
        }
      }
    ] as never)
    await client.multiStreamAppend([{
      streamName: b,
      expectedState: "any",
      events: [binaryEvent({ type: "Multi", data: everyByte().reverse() })]
    }] as never)
    const [ra] = await collect(client.readStream(a))
    assertBytes(ra, everyByte(), "appendRecords")
    assert.strictEqual((ra.event!.metadata as Record<string, unknown>)["strata.contentType"], "application/x-proto")
    assertBytes((await collect(client.readStream(b)))[0], everyByte().reverse(), "multiStreamAppend")
    assertBytes((await collect(client.subscribeToStream(a, { fromRevision: START }), 1))[0], everyByte(), "subscribe")
  })
})
