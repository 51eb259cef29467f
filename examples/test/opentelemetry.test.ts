// Runs the OpenTelemetry guide's program (examples/opentelemetry.ts) with in-memory exporters, on
// SQLite and PostgreSQL, and checks what a user would look for: Strata's spans with their
// attributes, the SQL driver's spans under them (and which host and database they name), and the
// metrics. Also keeps docs/opentelemetry.md true: it quotes the example whole (every metric is
// listed in docs/observability.md, which core's OtelMetrics test checks).
import { assert, describe, it } from "@effect/vitest"
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Strata } from "@strata/strata"
import { PgTestDatabase } from "@strata/test-utils/PgTestDatabase"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { program, TelemetryLive, withConsumer } from "../opentelemetry.ts"

const root = path.join(import.meta.dirname, "..", "..")

// Runs `effect` with the guide's telemetry layer over in-memory exporters; returns what they hold
// before the layer closes (the span exporter forgets everything on shutdown).
const traced = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const spans = new InMemorySpanExporter()
    const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 3_600_000 })
    return yield* Effect.gen(function*() {
      const result = yield* effect
      yield* Effect.promise(() => reader.forceFlush())
      const exported = metrics.getMetrics()
      return { result, spans: spans.getFinishedSpans(), metrics: exported[exported.length - 1] }
    }).pipe(
      Effect.provide(
        TelemetryLive({ serviceName: "otel-test", spanProcessor: new SimpleSpanProcessor(spans), metricReader: reader })
      )
    )
  })

const runProgram = <E>(store: Layer.Layer<Strata.Services, E>) =>
  traced(program.pipe(Effect.provide(withConsumer(store))))

const named = (spans: ReadonlyArray<ReadableSpan>, name: string) => spans.filter((span) => span.name === name)

const parentOf = (spans: ReadonlyArray<ReadableSpan>, span: ReadableSpan) =>
  spans.find((other) => other.spanContext().spanId === span.parentSpanContext?.spanId)

// Every data point of a metric, as [attributes, value].
const points = (exported: ResourceMetrics, name: string) =>
  exported.scopeMetrics.flatMap((scope) => scope.metrics)
    .filter((metric) => metric.descriptor.name === name)
    .flatMap((metric) => metric.dataPoints.map((point) => [point.attributes, point.value] as const))

const counter = (exported: ResourceMetrics, name: string, attributes: Record<string, string>) =>
  points(exported, name).find(([attrs]) => Object.entries(attributes).every(([k, v]) => attrs[k] === v))?.[1]

const childrenOf = (spans: ReadonlyArray<ReadableSpan>, parent: ReadableSpan) =>
  spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId)

// What the program looks like in the trace: strata.append (stream, backend, count) under
// EventCodec.append under the caller's span; the driver's statements under strata.read and, where
// the append runs through effect/sql (not SQLite's synchronous write path), under strata.append.
// `connection`: the store spans' connection attributes (db.namespace, server.address/port).
const assertTrace = (
  spans: ReadonlyArray<ReadableSpan>,
  backend: string,
  dbSystem: string,
  appendStatements: boolean,
  connection: Record<string, unknown>
) => {
  const [append] = named(spans, "strata.append")
  assert.deepStrictEqual(append.attributes, {
    "db.system.name": dbSystem,
    ...connection,
    "db.operation.name": "append",
    "strata.backend": backend,
    "strata.stream": "account-1",
    "strata.event.count": 1
  })
  assert.strictEqual(parentOf(spans, append)?.name, "EventCodec.append")
  assert.strictEqual(parentOf(spans, parentOf(spans, append)!)?.name, "deposit")
  const [read] = named(spans, "strata.read")
  assert.deepStrictEqual(read.attributes, {
    "db.system.name": dbSystem,
    ...connection,
    "db.operation.name": "read",
    "strata.backend": backend,
    "strata.stream": "account-1"
  })
  const reads = childrenOf(spans, read)
  assert.isTrue(reads.some((s) => String(s.attributes["db.query.text"]).includes("FROM strata_events")))
  const appends = childrenOf(spans, append)
  if (appendStatements) {
    assert.isTrue(appends.some((s) => /strata_(events|append)/.test(String(s.attributes["db.query.text"]))))
  } else {
    assert.deepStrictEqual(appends, [])
  }
  for (const statement of [...reads, ...appends]) {
    assert.strictEqual(statement.attributes["db.system.name"], dbSystem)
  }
  for (const name of ["strata.document.get", "strata.document.put", "strata.saveCheckpoint"]) {
    assert.isAbove(named(spans, name).length, 0, `a ${name} span`)
  }
  assert.deepStrictEqual(named(spans, "strata.document.put")[0].attributes, {
    "db.system.name": dbSystem,
    ...connection,
    "db.operation.name": "put",
    "db.collection.name": "totals",
    "strata.backend": backend,
    "strata.collection": "totals",
    "strata.document.id": "all"
  })
  assert.strictEqual(named(spans, "strata.saveCheckpoint")[0].attributes["strata.checkpoint"], "totals")
}

describe("the OpenTelemetry guide", () => {
  it.live("SQLite: spans for the store's operations with the driver's statements under them, and metrics", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-otel-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "otel.db")
      const { metrics, result, spans } = yield* runProgram(Strata.layerFromUrl(`sqlite:${file}`))
      assert.strictEqual(result.events, 1)
      assertTrace(spans, "sqlite", "sqlite", false, { "db.namespace": file })
      const sqlite = { backend: "sqlite" }
      assert.strictEqual(counter(metrics, "strata_appends_total", { ...sqlite, operation: "append" }), 1)
      assert.strictEqual(counter(metrics, "strata_events_appended_total", { ...sqlite, operation: "append" }), 1)
      assert.strictEqual(counter(metrics, "strata_events_read_total", { ...sqlite, operation: "read" }), 1)
      assert.strictEqual(
        counter(metrics, "strata_document_operations_total", { ...sqlite, operation: "put", outcome: "ok" }),
        1
      )
      // The consumer's handled count is recorded before `waitFor` returns; its lag gauges are not
      // checked (they are set when it finds itself caught up, a race with the program).
      assert.strictEqual(counter(metrics, "strata_consumer_events_handled_total", { consumer: "totals" }), 1)
      const [[attributes, histogram]] = points(metrics, "strata_append_duration")
      assert.deepStrictEqual(attributes, { ...sqlite, operation: "append", time_unit: "milliseconds" })
      assert.strictEqual((histogram as { count: number }).count, 1)
    }))

  it.live(
    "PostgreSQL: the driver's spans name the host, port and database of the store's URL",
    () =>
      Effect.gen(function*() {
        const db = yield* PgTestDatabase
        const url = new URL(db.connectionString)
        const { result, spans } = yield* runProgram(Strata.layerFromUrl(db.url))
        assert.strictEqual(result.events, 1)
        assertTrace(spans, "postgres", "postgresql", true, {
          "db.namespace": db.name,
          "server.address": url.hostname,
          "server.port": Number(url.port)
        })
        // @effect/sql-pg names these from its config's fields only; PgStore fills them from the URL.
        const [statement] = childrenOf(spans, named(spans, "strata.append")[0])
        assert.strictEqual(statement.attributes["server.address"], url.hostname)
        assert.strictEqual(statement.attributes["server.port"], Number(url.port))
        assert.strictEqual(statement.attributes["db.namespace"], db.name)
      }).pipe(Effect.provide(PgTestDatabase.layer)),
    60_000
  )

  it("docs/opentelemetry.md quotes examples/opentelemetry.ts whole", () => {
    const guide = fs.readFileSync(path.join(root, "docs", "opentelemetry.md"), "utf8")
    const example = fs.readFileSync(path.join(root, "examples", "opentelemetry.ts"), "utf8")
    const quoted = /<!-- examples\/opentelemetry\.ts -->\n```ts\n([\s\S]*?)```/.exec(guide)
    assert.isNotNull(quoted, "the guide has a ```ts block after <!-- examples/opentelemetry.ts -->")
    assert.strictEqual(quoted![1], example)
  })
})
