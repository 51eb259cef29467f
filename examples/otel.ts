// The observability guide's example (docs/observability.md quotes this file whole;
// examples/test/otel.test.ts runs it with an in-memory span exporter and checks the spans' semantic
// convention attributes, the consumer's link to the request, /metrics and /health).
//
// Run it: npx node --conditions=@strata/source examples/otel.ts, then
//   curl -s localhost:9464/metrics | grep strata_      (Prometheus text)
//   curl -s localhost:9464/health/ready                (readiness)
// Spans go to the console; STRATA_URL picks the store (SQLite in .strata/otel-orders.db by default).
import { OtelTracer, Resource } from "@effect/opentelemetry"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { HealthHttp } from "@strata/http"
import { Consumer, Event, EventStore, Strata } from "@strata/strata"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import * as fs from "node:fs"
import { createServer } from "node:http"

/** Effect's spans (Strata's among them) through an OpenTelemetry tracer provider to `spanProcessor`. */
export const TracingLive = (spanProcessor: SpanProcessor) =>
  OtelTracer.layer.pipe(
    Layer.provide(Layer.effect(
      OtelTracer.OtelTracerProvider,
      Effect.acquireRelease(
        Effect.map(Resource.Resource, (resource) =>
          new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] })),
        (provider) =>
          Effect.promise(() => provider.shutdown())
      )
    )),
    Layer.provide(Resource.layer({ serviceName: "orders" }))
  )

/**
 * A consumer: every placed order gets a confirmation mail. Its span (`process $all`, kind consumer)
 * starts a trace of its own, linked to the span that placed the order.
 */
export const Mailer = Consumer.layer("mailer", {
  filter: { categories: ["order"] },
  handler: (event) =>
    Effect.flatMap(
      EventStore.EventStore,
      (store) => store.append(`mail-${event.stream}`, [Event.make("ConfirmationSent", { order: event.stream })])
    )
})

/** A request: places an order inside its own span, which the event's metadata records. */
export const placeOrder = (id: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.append(`order-${id}`, [Event.make("OrderPlaced", { id })]))
    .pipe(
      Effect.withSpan("POST /orders", { kind: "server" })
    )

/** `/metrics` (Prometheus text: every Strata metric) and `/health` (`/ready`, `/live`) on one port. */
export const OpsServer = (port: number) =>
  HttpRouter.serve(Layer.mergeAll(PrometheusMetrics.layerHttp(), HealthHttp.layer()), {
    disableListenLog: port === 0
  }).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })))

/** The application: the ops server and the mailer over the store at `url`. */
export const App = (url: string, port: number) =>
  OpsServer(port).pipe(Layer.provideMerge(Mailer), Layer.provideMerge(Strata.layerFromUrl(url)))

if (import.meta.main) {
  fs.mkdirSync(".strata", { recursive: true })
  const url = process.env["STRATA_URL"] ?? "sqlite:.strata/otel-orders.db"
  const program = Effect.gen(function*() {
    const placed = yield* placeOrder(crypto.randomUUID())
    yield* (yield* Consumer.get("mailer")).waitFor(placed.position)
    yield* Effect.log("order placed and confirmed; serving /metrics and /health on port 9464 (Ctrl-C to stop)")
    return yield* Effect.never
  })
  NodeRuntime.runMain(program.pipe(
    Effect.provide(App(url, 9464)),
    Effect.provide(TracingLive(new BatchSpanProcessor(new ConsoleSpanExporter())))
  ))
}
