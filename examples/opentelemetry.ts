// The OpenTelemetry guide (docs/opentelemetry.md quotes this file whole; examples/test/opentelemetry.test.ts
// runs it with in-memory exporters, on SQLite and PostgreSQL, and checks the spans and metrics).
//
// Run it: npx node --conditions=@strata/source examples/opentelemetry.ts (spans and metrics go to
// the console; STRATA_URL picks the store, SQLite in .strata/otel.db by default).
import { OtelMetrics, OtelTracer, Resource } from "@effect/opentelemetry"
import { NodeRuntime } from "@effect/platform-node"
import { ConsoleMetricExporter, type MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { Consumer, DocumentStore, EventCodec, Strata } from "@strata/strata"
import { Effect, Layer, Schema, Stream } from "effect"
import * as fs from "node:fs"

// ---- telemetry: Effect's tracer and metrics, exported through the OpenTelemetry SDK ----

/**
 * Effect's spans go to `spanProcessor`, Effect's metrics (Strata's among them) to `metricReader`.
 * The tracer provider is flushed and shut down when the layer's scope closes.
 */
export const TelemetryLive = (options: {
  readonly serviceName: string
  readonly spanProcessor: SpanProcessor
  readonly metricReader: MetricReader
}) => {
  const TracerProvider = Layer.effect(
    OtelTracer.OtelTracerProvider,
    Effect.acquireRelease(
      Effect.map(
        Resource.Resource,
        (resource) => new BasicTracerProvider({ resource, spanProcessors: [options.spanProcessor] })
      ),
      (provider) => Effect.promise(() => provider.shutdown())
    )
  )
  return Layer.mergeAll(
    OtelTracer.layer.pipe(Layer.provide(TracerProvider)),
    OtelMetrics.layer(() => options.metricReader)
  ).pipe(Layer.provide(Resource.layer({ serviceName: options.serviceName })))
}

// ---- the program: events, a document and a consumer ----

const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Finite }) })
const Account = EventCodec.make([Deposited])
const Totals = DocumentStore.collection("totals", Schema.Struct({ deposited: Schema.Finite }))

// A supervised consumer: its handled events and lag are metrics too.
const totals = {
  filter: { categories: ["account"] },
  handler: Account.handler(({ event }) =>
    Effect.asVoid(DocumentStore.update(Totals, "all", (current) => ({
      deposited: (current?.deposited ?? 0) + event.amount
    })))
  )
}

export const program = Effect.gen(function*() {
  const appended = yield* Account.append("account-1", [Deposited.make({ amount: 100 })]).pipe(
    Effect.withSpan("deposit")
  )
  yield* (yield* Consumer.get("totals")).waitFor(appended.position)
  const history = yield* Stream.runCollect(Account.read("account-1"))
  const total = yield* (yield* DocumentStore.DocumentStore).get(Totals, "all")
  return { events: history.length, total }
})

/** A store (e.g. `Strata.layerFromUrl(url)`) with the consumer running for as long as the layer. */
export const withConsumer = <E>(store: Layer.Layer<Strata.Services, E>) =>
  Consumer.layer("totals", totals).pipe(Layer.provideMerge(store))

if (import.meta.main) {
  fs.mkdirSync(".strata", { recursive: true })
  const url = process.env["STRATA_URL"] ?? "sqlite:.strata/otel.db"
  NodeRuntime.runMain(program.pipe(
    Effect.tap(Effect.log),
    Effect.provide(withConsumer(Strata.layerFromUrl(url))),
    Effect.provide(TelemetryLive({
      serviceName: "otel-example",
      spanProcessor: new BatchSpanProcessor(new ConsoleSpanExporter()),
      metricReader: new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter() })
    }))
  ))
}
