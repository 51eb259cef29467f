// Runs the observability guide's example (examples/otel.ts) as written, with an in-memory span
// exporter instead of the console: the OpenTelemetry SDK receives Strata's spans with the semantic
// convention attributes, the consumer's span linked to the request's, the SQL driver's spans naming
// the database (and on PostgreSQL its host, port and database); the ops server answers /metrics in
// the Prometheus text format and /health. Also keeps docs/observability.md quoting the example whole.
import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Consumer } from "@strata/strata"
import { PgTestDatabase } from "@strata/test-utils/PgTestDatabase"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { App, placeOrder, TracingLive } from "../otel.ts"

const root = path.join(import.meta.dirname, "..", "..")

// OpenTelemetry's numeric span kinds (SpanKind in @opentelemetry/api).
const SpanKind = { SERVER: 1, CLIENT: 2, CONSUMER: 4 } as const

const get = (route: string) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const response = yield* Effect.promise(() => fetch(`${HttpServer.formatAddress(server.address)}${route}`))
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      text: yield* Effect.promise(() => response.text())
    }
  })

// Places an order with the app running over `url` and the spans going to an in-memory exporter;
// returns the spans (read before the tracer provider shuts down: its exporter then forgets them)
// and what /metrics and /health/ready answered.
const traced = (url: string) =>
  Effect.suspend(() => {
    const exporter = new InMemorySpanExporter()
    return Effect.gen(function*() {
      const placed = yield* placeOrder("o-1")
      yield* (yield* Consumer.get("mailer")).waitFor(placed.position)
      const metrics = yield* get("/metrics")
      const ready = yield* get("/health/ready")
      return { metrics, ready, spans: exporter.getFinishedSpans() }
    }).pipe(
      Effect.provide(App(url, 0)),
      Effect.provide(TracingLive(new SimpleSpanProcessor(exporter)))
    )
  })

const named = (spans: ReadonlyArray<ReadableSpan>, name: string, where: (span: ReadableSpan) => boolean = () => true) =>
  spans.filter((span) => span.name === name && where(span))

const childrenOf = (spans: ReadonlyArray<ReadableSpan>, parent: ReadableSpan) =>
  spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId)

// What every backend shows: the request's append as a database client span, the mailer's span
// linked to the request, the mailer's own append under it, and the driver's statements under the store's spans.
const assertTrace = (spans: ReadonlyArray<ReadableSpan>, backend: string, dbSystem: string) => {
  const [request] = named(spans, "POST /orders")
  assert.strictEqual(request.kind, SpanKind.SERVER)
  const [append] = named(spans, "strata.append", (s) => s.attributes["strata.stream"] === "order-o-1")
  assert.strictEqual(append.kind, SpanKind.CLIENT)
  assert.strictEqual(append.parentSpanContext?.spanId, request.spanContext().spanId)
  assert.strictEqual(append.attributes["db.system.name"], dbSystem)
  assert.strictEqual(append.attributes["db.operation.name"], "append")
  assert.strictEqual(append.attributes["strata.backend"], backend)
  const [processed] = named(spans, "process $all", (s) => s.attributes["strata.stream"] === "order-o-1")
  assert.strictEqual(processed.kind, SpanKind.CONSUMER)
  assert.include(processed.attributes, {
    "messaging.system": "strata",
    "messaging.operation.type": "process",
    "messaging.destination.name": "$all",
    "messaging.consumer.group.name": "mailer",
    "messaging.destination.subscription.name": "mailer",
    "strata.event.type": "OrderPlaced"
  })
  assert.match(String(processed.attributes["messaging.message.id"]), /^[0-9a-f-]{36}$/)
  assert.isUndefined(processed.parentSpanContext)
  assert.deepStrictEqual(
    processed.links.map(({ context }) => [context.traceId, context.spanId]),
    [[request.spanContext().traceId, request.spanContext().spanId]]
  )
  const [reaction] = named(spans, "strata.append", (s) => s.attributes["strata.stream"] === "mail-order-o-1")
  assert.strictEqual(reaction.parentSpanContext?.spanId, processed.spanContext().spanId)
  assert.strictEqual(reaction.spanContext().traceId, processed.spanContext().traceId)
  // The SQL driver's statements, under the store's read and checkpoint spans.
  const statements = spans.filter((s) => typeof s.attributes["db.query.text"] === "string")
  assert.isAbove(statements.length, 0)
  for (const statement of statements) assert.strictEqual(statement.attributes["db.system.name"], dbSystem)
  return { append, statements }
}

// The Prometheus text /metrics served, with Strata's metrics for this backend.
const assertMetrics = (metrics: { status: number; type: string | null; text: string }, backend: string) => {
  assert.strictEqual(metrics.status, 200)
  assert.match(metrics.type ?? "", /^text\/plain/)
  assert.include(metrics.text, "# TYPE strata_appends_total counter")
  assert.match(
    metrics.text,
    new RegExp(`^strata_appends_total\\{backend="${backend}",operation="append"\\} [1-9]`, "m")
  )
  assert.match(metrics.text, /^strata_consumer_events_handled_total\{consumer="mailer"\} [1-9]/m)
  assert.include(metrics.text, "# TYPE strata_append_duration histogram")
}

describe("the observability guide", () => {
  it.live("SQLite: conventions on the spans, the consumer linked to the request, /metrics and /health", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-otel-orders-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "orders.db")
      const { metrics, ready, spans } = yield* traced(`sqlite:${file}`)
      const { statements } = assertTrace(spans, "sqlite", "sqlite")
      // The driver's statements name the database file.
      for (const statement of statements) assert.strictEqual(statement.attributes["db.namespace"], file)
      assertMetrics(metrics, "sqlite")
      assert.strictEqual(ready.status, 200)
      assert.strictEqual(JSON.parse(ready.text).ready, true)
    }))

  it.live(
    "PostgreSQL: the driver's spans name the host, port and database of the store's URL, never its password",
    () =>
      Effect.gen(function*() {
        const db = yield* PgTestDatabase
        const url = new URL(db.connectionString)
        const { metrics, spans } = yield* traced(db.connectionString)
        const { append, statements } = assertTrace(spans, "postgres", "postgresql")
        const underAppend = childrenOf(spans, append)
        assert.isAbove(underAppend.length, 0, "the append's statements")
        for (const statement of statements) {
          assert.strictEqual(statement.attributes["server.address"], url.hostname)
          assert.strictEqual(statement.attributes["server.port"], Number(url.port))
          assert.strictEqual(statement.attributes["db.namespace"], db.name)
        }
        const attributes = JSON.stringify(spans.map((s) => s.attributes))
        assert.notInclude(attributes, db.connectionString)
        if (url.password !== "") assert.notInclude(attributes, `${url.username}:${url.password}@`)
        assertMetrics(metrics, "postgres")
      }).pipe(Effect.provide(PgTestDatabase.layer)),
    60_000
  )

  it("docs/observability.md quotes examples/otel.ts whole", () => {
    const guide = fs.readFileSync(path.join(root, "docs", "observability.md"), "utf8")
    const example = fs.readFileSync(path.join(root, "examples", "otel.ts"), "utf8")
    const quoted = /<!-- examples\/otel\.ts -->\n```ts\n([\s\S]*?)```/.exec(guide)
    assert.isNotNull(quoted, "the guide has a ```ts block after <!-- examples/otel.ts -->")
    assert.strictEqual(quoted![1], example)
  })
})
