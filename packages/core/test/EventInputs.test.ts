// Events whose fields run the caller's code when read (getters, Proxy traps, nested getters) and
// values that cannot be printed as JSON (a BigInt type or id): Event.prepare refuses each with a
// typed InvalidEvent naming the event's index and the field, never a defect, and a memory store
// writes nothing through append, appendMany, a document put with events and a unit of work.
// fillMetadata and withId leave such events as given, for prepare to refuse; Retry's id fixing and a
// unit of work's replay check, which read the events before prepare, do too.
import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Event, EventStore, MemoryStore, Store, UnitOfWork } from "@strata/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const boom = (field: string) => () => {
  throw new Error(`${field} is not here`)
}

// An event of valid fields, except that reading `field` throws.
const throwing = (field: keyof Event.NewEvent): Event.NewEvent => {
  const event: Record<string, unknown> = { type: "Noted", data: Uint8Array.of(1) }
  Object.defineProperty(event, field, { get: boom(field), enumerable: true })
  return event as unknown as Event.NewEvent
}

// Each field, and the reason its read failing is refused with.
const fields: ReadonlyArray<readonly [keyof Event.NewEvent, string]> = [
  ["type", "InvalidType"],
  ["id", "InvalidId"],
  ["data", "NotJson"],
  ["contentType", "InvalidContentType"],
  ["metadata", "NotJson"],
  ["tags", "InvalidTags"]
]

// Typed failure or bust: a defect fails the test with what died.
const refusal = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure, but it succeeded")
    assert.isFalse(Cause.hasDies(exit.cause), `a defect: ${Cause.pretty(exit.cause)}`)
    return Cause.squash(exit.cause) as {
      readonly _tag: string
      readonly reason: string
      readonly index?: number
      readonly detail: string
    }
  })

// A Proxy already revoked: every operation on it throws, Array.isArray included.
const revoked = <T extends object>(target: T): T => {
  const { proxy, revoke } = Proxy.revocable(target, {})
  revoke()
  return proxy
}

const fine = () => Event.make("Fine", { ok: true })

describe("events whose fields cannot be read", () => {
  it.effect("a throwing getter on each field is InvalidEvent naming the index, the field and its reason", () =>
    Effect.gen(function*() {
      for (const [field, reason] of fields) {
        const error = yield* refusal(Event.prepare("s", [fine(), throwing(field)]))
        assert.strictEqual(error._tag, "InvalidEvent", field)
        assert.strictEqual(error.reason, reason, field)
        assert.strictEqual(error.index, 1, field)
        assert.include(error.detail, `reading the event's ${field} threw (${field} is not here)`)
      }
    }))

  it.effect("a Proxy event, nested getters, a throwing toJSON and a BigInt type or id fail typed", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, unknown, string]> = [
        [
          "a Proxy that throws on every read (the first field read: type)",
          new Proxy({}, { get: boom("any") }),
          "InvalidType"
        ],
        ["a revoked Proxy", revoked({ type: "T", data: 1 }), "InvalidType"],
        ["a getter deep in data", {
          type: "T",
          data: {
            a: [{
              get b() {
                return boom("b")()
              }
            }]
          }
        }, "NotJson"],
        ["a getter deep in metadata", {
          type: "T",
          data: 1,
          metadata: {
            get m() {
              return boom("m")()
            }
          }
        }, "NotJson"],
        [
          "a tags array whose items throw",
          { type: "T", data: 1, tags: new Proxy(["t"], { get: boom("tag") }) },
          "InvalidTags"
        ],
        ["a BigInt type", { type: 1n, data: 1 }, "InvalidType"],
        ["a BigInt id", { id: 1n, type: "T", data: 1 }, "InvalidId"],
        ["an id whose toJSON throws", { id: { toJSON: boom("toJSON") }, type: "T", data: 1 }, "InvalidId"]
      ]
      for (const [label, event, reason] of cases) {
        const error = yield* refusal(Event.prepare("s", [fine(), event as Event.NewEvent]))
        assert.strictEqual(error.reason, reason, label)
        assert.strictEqual(error.index, 1, label)
      }
      const events = revoked([fine()]) as ReadonlyArray<Event.NewEvent>
      assert.strictEqual((yield* refusal(Event.prepare("s", events))).reason, "Empty", "a revoked array")
    }))

  it.effect("bytes that cannot be copied are NotJson saying what to pass; the copy is what is stored", () =>
    Effect.gen(function*() {
      const detached = Uint8Array.of(1, 2, 3)
      structuredClone(detached, { transfer: [detached.buffer] })
      for (const bytes of [detached, new Proxy(Uint8Array.of(1), {})]) {
        const error = yield* refusal(Event.prepare("s", [Event.binary("Blob", bytes)]))
        assert.strictEqual(error.reason, "NotJson")
        assert.strictEqual(error.index, 0)
        assert.include(error.detail, "pass a Uint8Array that owns its bytes")
      }
      const given = Buffer.from([9, 8, 7])
      const [prepared] = yield* Event.prepare("s", [Event.binary("Blob", given)])
      given.fill(0)
      assert.deepStrictEqual(prepared.bytes, Uint8Array.of(9, 8, 7))
      assert.strictEqual(Object.getPrototypeOf(prepared.bytes), Uint8Array.prototype)
    }))

  it("fillMetadata and withId leave an event that throws as given", () => {
    const event = throwing("data")
    const [filled] = Event.fillMetadata([event], { correlationId: "c" })
    assert.strictEqual(filled, event)
    assert.strictEqual(Event.withId(event), event)
    const proxy = new Proxy({}, { get: boom("x") }) as Event.NewEvent
    assert.strictEqual(Event.fillMetadata([proxy], { correlationId: "c" })[0], proxy)
    const plain: Event.NewEvent = { type: "T", data: 1 }
    assert.isString(Event.withId(plain).id)
    assert.isUndefined(plain.id, "the caller's event is not changed")
  })

  const everyPath = (layer: Layer.Layer<EventStore.EventStore | DocumentStore.DocumentStore>) =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const docs = yield* DocumentStore.DocumentStore
      const notes = DocumentStore.collection("notes", Schema.Unknown)
      for (const [field, reason] of fields) {
        const batch = [fine(), throwing(field)]
        const paths = [
          store.append("s", batch),
          store.append("s", batch).pipe(Effect.withSpan("caller"), Event.correlatedWith("c-1")),
          store.appendMany([{ stream: "other", events: [fine()] }, { stream: "s", events: batch }]),
          docs.put(notes, "doc", { n: 1 }, { events: [{ stream: "s", events: batch }] }),
          UnitOfWork.transaction(store.append("s", batch)),
          UnitOfWork.commit({
            appends: [{ stream: "s", events: batch }],
            documents: [{ collection: notes, id: "doc", value: 2 }]
          })
        ]
        for (const [i, path] of paths.entries()) {
          const error = yield* refusal(path as Effect.Effect<unknown, unknown>)
          assert.strictEqual(error.reason, reason, `${field}, path ${i}`)
        }
      }
      assert.strictEqual((yield* Stream.runCollect(store.readAll())).length, 0, "nothing written")
      assert.isTrue(Option.isNone(yield* docs.get(notes, "doc")))
    }).pipe(Effect.provide(layer))

  it.effect("a memory store refuses them on every write path, in a span with causation too, and writes nothing", () =>
    everyPath(Store.layer(MemoryStore.layer(), { retry: false })))

  // Retry fixes ids before the first attempt and a unit of work's commit looks for a replay by ids:
  // both read the events before prepare, and neither may die on them.
  it.effect("the same through Store.layer's defaults (retry on)", () => everyPath(Store.layer(MemoryStore.layer())))
})
