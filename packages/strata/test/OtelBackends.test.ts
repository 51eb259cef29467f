// The OpenTelemetry conventions on every backend a URL opens: `db.system.name` of the store spans,
// and the consumer's span linked to the appending span through the trace ids each backend stores in
// the event's metadata (memory, SQLite, and KurrentDB through the in-repo emulator; PostgreSQL is
// covered by examples/test/otel.test.ts). Recorded with Effect's own tracer.
import { assert, describe, it } from "@effect/vitest"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import { Consumer, Event, EventStore, Strata } from "@strata/strata"
import { recordingTracer } from "@strata/test-utils/Spans"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// Appends an order in a `request` span, waits for a consumer to handle it; returns the request's
// span ids, the store's append span and the consumer's span of that event.
const roundTrip = (url: string) =>
  Effect.gen(function*() {
    const { started, tracer } = recordingTracer()
    const stream = `order-${crypto.randomUUID().slice(0, 8)}`
    const appended = yield* Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const appended = yield* store.append(stream, [Event.make("Placed", {})]).pipe(Effect.withSpan("request"))
      yield* (yield* Consumer.get("otel-mailer")).waitFor(appended.position)
      return appended
    }).pipe(
      Effect.provide(
        Consumer.layer("otel-mailer", { filter: { categories: ["order"] }, handler: () => Effect.void }).pipe(
          Layer.provideMerge(Strata.layerFromUrl(url))
        )
      ),
      Effect.withTracer(tracer)
    )
    const request = started.find((s) => s.name === "request")!
    const append = started.find((s) => s.name === "strata.append" && s.attributes.get("strata.stream") === stream)!
    const processed = started.find((s) =>
      s.name === "process $all" && s.attributes.get("strata.event.position") === String(appended.position) &&
      s.attributes.get("strata.stream") === stream
    )
    assert.isDefined(processed, "the consumer's span of the event")
    return { request, append, processed: processed! }
  })

// `connection`: the connection attributes the store spans must carry (never credentials).
const check = (url: string, backend: string, system: string, connection: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const { append, processed, request } = yield* roundTrip(url)
    assert.strictEqual(append.kind, "client")
    for (const [key, value] of Object.entries(connection)) {
      assert.strictEqual(append.attributes.get(key), value, key)
    }
    assert.strictEqual(append.attributes.get("db.system.name"), system)
    assert.strictEqual(append.attributes.get("db.operation.name"), "append")
    assert.strictEqual(append.attributes.get("strata.backend"), backend)
    assert.strictEqual(processed.kind, "consumer")
    assert.isTrue(Option.isNone(processed.parent))
    assert.strictEqual(processed.attributes.get("messaging.system"), "strata")
    assert.strictEqual(processed.attributes.get("messaging.consumer.group.name"), "otel-mailer")
    // The link came back from the metadata the backend stored and read.
    assert.deepStrictEqual(
      processed.links.map((link) => [link.span.traceId, link.span.spanId]),
      [[request.traceId, request.spanId]]
    )
  })

describe("OpenTelemetry conventions on every backend", () => {
  it.live("memory", () => check("memory:", "memory", "strata.memory"))

  it.live("SQLite", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-otel-backends-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "otel.db")
      yield* check(`sqlite:${file}`, "sqlite", "sqlite", { "db.namespace": file })
    }))

  it.live("KurrentDB (the in-repo emulator)", () =>
    Effect.gen(function*() {
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => KurrentEmulator.start()),
        (started) => Effect.promise(() => started.stop())
      )
      const url = new URL(emulator.connectionString)
      yield* check(emulator.connectionString, "kurrentdb", "kurrentdb", {
        "server.address": url.hostname,
        "server.port": Number(url.port)
      })
    }), { timeout: 60_000 })
})
