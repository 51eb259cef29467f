/**
 * Persistent subscriptions (competing consumers) on the emulator, driven by the raw client. Sources
 * (github.com/kurrent-io/KurrentDB at 44996ed0), under src/KurrentDB.Core/Services/:
 * - `PersistentSubscription/PersistentSubscription.cs` (dispatch, ack/nack, retries, timeouts, checkpoints)
 * - `PersistentSubscription/ConsumerStrategy/*` (RoundRobin, DispatchToSingle, Pinned)
 * - `PersistentSubscription/PersistentSubscriptionMessageParker.cs` (parked stream, replay)
 * - `PersistentSubscription/PersistentSubscriptionService.cs` (`SaveConfiguration`)
 * - `Transport/Grpc/RpcExceptions.cs` (exists / does not exist / maximum subscribers)
 * The official client's persistent subscription tests run against it too (see the README).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import {
  jsonEvent,
  KurrentDBClient,
  type PersistentSubscriptionToStream,
  persistentSubscriptionToStreamSettingsFromDefaults,
  type ResolvedEvent,
  START
} from "@kurrent/kurrentdb-client"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"

let emulator: KurrentEmulator.KurrentEmulator
let client: KurrentDBClient
let counter = 0
const fresh = (prefix = "ps") => `${prefix}-${Date.now().toString(36)}-${++counter}`
const events = (n: number, type = "E") => Array.from({ length: n }, (_, i) => jsonEvent({ type, data: { i } }))

beforeAll(async () => {
  emulator = await KurrentEmulator.start()
  client = KurrentDBClient.connectionString(emulator.connectionString)
})

afterAll(async () => {
  await client.dispose()
  await emulator.stop()
})

const errorOf = async (promise: Promise<unknown>): Promise<{ type: string } & Record<string, unknown>> => {
  try {
    await promise
  } catch (error) {
    return error as { type: string } & Record<string, unknown>
  }
  throw new Error("expected a failure")
}

const until = async (check: () => boolean, what: string, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A member that records what it receives and settles each event with `settle` (ack by default). */
const member = (
  stream: string,
  group: string,
  options: {
    readonly bufferSize?: number
    readonly settle?: (event: ResolvedEvent, sub: PersistentSubscriptionToStream) => Promise<void> | "leave"
  } = {}
) => {
  const received: Array<{ readonly revision: bigint; readonly retryCount: number }> = []
  const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group, {
    bufferSize: options.bufferSize ?? 10
  })
  subscription.on("data", (event: ResolvedEvent & { retryCount?: number }) => {
    received.push({ revision: event.event!.revision, retryCount: event.retryCount ?? 0 })
    const settle = options.settle?.(event, subscription)
    if (settle === "leave") return
    void (settle ?? subscription.ack(event))
  })
  subscription.on("error", () => {})
  return { received, subscription }
}

const create = (
  stream: string,
  group: string,
  settings: Parameters<typeof persistentSubscriptionToStreamSettingsFromDefaults>[0] = {}
) =>
  client.createPersistentSubscriptionToStream(
    stream,
    group,
    persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START, ...settings })
  )

describe("persistent subscriptions", () => {
  // ConsumerStrategy/RoundRobinPersistentSubscriptionConsumerStrategy.cs: members take turns.
  it("round robin: every event goes to exactly one member, both members get some", async () => {
    const stream = fresh()
    const group = fresh("g")
    await client.appendToStream(stream, events(20))
    await create(stream, group, { consumerStrategyName: "RoundRobin" })
    const a = member(stream, group, { bufferSize: 2 })
    const b = member(stream, group, { bufferSize: 2 })
    try {
      await until(() => a.received.length + b.received.length >= 20, "20 deliveries")
      const all = [...a.received, ...b.received].map((r) => r.revision).sort((x, y) => Number(x - y))
      assert.deepStrictEqual(all, Array.from({ length: 20 }, (_, i) => BigInt(i)))
      assert.isAbove(a.received.length, 0)
      assert.isAbove(b.received.length, 0)
    } finally {
      await a.subscription.unsubscribe()
      await b.subscription.unsubscribe()
    }
  })

  // ConsumerStrategy/DispatchToSinglePersistentSubscriptionConsumerStrategy.cs: the first member while it has room.
  it("dispatch to single: the first member takes everything while it has room", async () => {
    const stream = fresh()
    const group = fresh("g")
    await create(stream, group, { consumerStrategyName: "DispatchToSingle" })
    const a = member(stream, group, { bufferSize: 50 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const b = member(stream, group, { bufferSize: 50 })
    try {
      await new Promise((resolve) => setTimeout(resolve, 200))
      await client.appendToStream(stream, events(10))
      await until(() => a.received.length + b.received.length >= 10, "10 deliveries")
      assert.strictEqual(a.received.length, 10)
      assert.strictEqual(b.received.length, 0)
    } finally {
      await a.subscription.unsubscribe()
      await b.subscription.unsubscribe()
    }
  })

  // ConsumerStrategy/PinnedPersistentSubscriptionConsumerStrategy.cs: one stream, one member.
  it("pinned: all events of one stream go to the same member", async () => {
    const stream = fresh()
    const group = fresh("g")
    await client.appendToStream(stream, events(12))
    await create(stream, group, { consumerStrategyName: "Pinned" })
    const a = member(stream, group, { bufferSize: 100 })
    const b = member(stream, group, { bufferSize: 100 })
    try {
      await until(() => a.received.length + b.received.length >= 12, "12 deliveries")
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.deepStrictEqual([a.received.length, b.received.length].sort(), [0, 12])
    } finally {
      await a.subscription.unsubscribe()
      await b.subscription.unsubscribe()
    }
  })

  it("nack retry redelivers with a retry count; nack park writes a link to the parked stream; replay sends it again", async () => {
    const stream = fresh()
    const group = fresh("g")
    await client.appendToStream(stream, events(3))
    await create(stream, group)
    const seen = new Map<bigint, number>()
    const m = member(stream, group, {
      settle: (event, sub) => {
        const revision = event.event!.revision
        const times = (seen.get(revision) ?? 0) + 1
        seen.set(revision, times)
        if (revision === 1n && times === 1) return sub.nack("retry", "try again", event)
        if (revision === 2n && times === 1) return sub.nack("park", "poison", event)
        return sub.ack(event)
      }
    })
    try {
      await until(() => seen.get(1n) === 2, "the retried event")
      assert.isTrue(m.received.some((r) => r.revision === 1n && r.retryCount === 1))
      await until(() => seen.get(2n) === 1, "the parked event")
      const parkedStream = `$persistentsubscription-${stream}::${group}-parked`
      await until(() => (emulator.database.visible(parkedStream)?.length ?? 0) === 1, "the parked link")
      const [link] = emulator.database.visible(parkedStream)!
      assert.strictEqual(link.type, "$>")
      assert.strictEqual(Buffer.from(link.data).toString(), `2@${stream}`)
      const info = await client.getPersistentSubscriptionToStreamInfo(stream, group)
      assert.strictEqual(info.stats.parkedMessageCount, 1n)
      await client.replayParkedMessagesToStream(stream, group)
      await until(() => seen.get(2n) === 2, "the replayed event")
      assert.strictEqual(emulator.database.visible(parkedStream)?.length ?? 0, 0)
    } finally {
      await m.subscription.unsubscribe()
    }
  })

  it("a member that leaves gives its unacknowledged events to the others, retry count + 1", async () => {
    const stream = fresh()
    const group = fresh("g")
    await create(stream, group, { consumerStrategyName: "DispatchToSingle" })
    const quitter = member(stream, group, { bufferSize: 5, settle: () => "leave" })
    await new Promise((resolve) => setTimeout(resolve, 200))
    await client.appendToStream(stream, events(3))
    await until(() => quitter.received.length === 3, "3 deliveries to the first member")
    const other = member(stream, group, { bufferSize: 5 })
    try {
      await quitter.subscription.unsubscribe()
      await until(() => other.received.length === 3, "3 redeliveries")
      assert.deepStrictEqual(other.received.map((r) => r.retryCount), [1, 1, 1])
    } finally {
      await other.subscription.unsubscribe()
    }
  })

  it("an event not acknowledged within the message timeout is delivered again", async () => {
    const stream = fresh()
    const group = fresh("g")
    await client.appendToStream(stream, events(1))
    await create(stream, group, { messageTimeout: 300 })
    let first = true
    const m = member(stream, group, {
      settle: (event, sub) => {
        if (first) {
          first = false
          return "leave"
        }
        return sub.ack(event)
      }
    })
    try {
      await until(() => m.received.length === 2, "the redelivery", 5_000)
      assert.deepStrictEqual(m.received.map((r) => r.retryCount), [0, 1])
    } finally {
      await m.subscription.unsubscribe()
    }
  })

  // PersistentSubscriptionCheckpointWriter.cs: `$SubscriptionCheckpoint` in the checkpoint stream; a
  // reloaded group resumes after it.
  it("checkpoints: a restarted subsystem resumes after the last checkpoint", async () => {
    const stream = fresh()
    const group = fresh("g")
    await client.appendToStream(stream, events(5))
    await create(stream, group, { checkPointLowerBound: 1, checkPointUpperBound: 1 })
    const first = member(stream, group)
    await until(() => first.received.length === 5, "5 deliveries")
    const checkpoints = `$persistentsubscription-${stream}::${group}-checkpoint`
    await until(
      () => {
        const last = emulator.database.streams.get(checkpoints)?.events.at(-1)
        return last !== undefined && Buffer.from(last.data).toString() === "4"
      },
      "a checkpoint at revision 4"
    )
    await first.subscription.unsubscribe()
    await client.restartPersistentSubscriptionSubsystem()
    await client.appendToStream(stream, events(2))
    const second = member(stream, group)
    try {
      await until(() => second.received.length === 2, "the 2 new events")
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.deepStrictEqual(second.received.map((r) => r.revision), [5n, 6n])
      const info = await client.getPersistentSubscriptionToStreamInfo(stream, group)
      assert.strictEqual(info.stats.lastCheckpointedEventRevision !== undefined, true)
    } finally {
      await second.subscription.unsubscribe()
    }
  })

  it("errors: an existing group, a missing group, too many members", async () => {
    const stream = fresh()
    const group = fresh("g")
    await create(stream, group, { maxSubscriberCount: 1 })
    assert.strictEqual((await errorOf(create(stream, group))).type, "persistent-subscription-exists")
    assert.strictEqual(
      (await errorOf(client.getPersistentSubscriptionToStreamInfo(stream, "nope"))).type,
      "persistent-subscription-does-not-exist"
    )
    const one = member(stream, group)
    const errors: Array<{ type?: string }> = []
    const two = client.subscribeToPersistentSubscriptionToStream(stream, group)
    two.on("error", (error) => errors.push(error as { type?: string }))
    two.on("data", () => {})
    try {
      await until(() => errors.length === 1, "the refusal")
      assert.strictEqual(errors[0].type, "maximum-subscribers-reached")
    } finally {
      await one.subscription.unsubscribe()
    }
  })

  // PersistentSubscriptionService.SaveConfiguration: every change writes the configuration.
  it("creating a group writes $PersistentConfig to $persistentSubscriptionConfig", async () => {
    const stream = fresh()
    const group = fresh("g")
    await create(stream, group)
    const last = emulator.database.streams.get("$persistentSubscriptionConfig")!.events.at(-1)!
    assert.strictEqual(last.type, "$PersistentConfig")
    const config = JSON.parse(Buffer.from(last.data).toString()) as {
      Entries: Array<{ Stream: string; Group: string }>
    }
    assert.isTrue(config.Entries.some((entry) => entry.Stream === stream && entry.Group === group))
  })
})
