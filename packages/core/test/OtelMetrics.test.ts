// Strata's metrics exported in the Prometheus text format (effect/observability's PrometheusMetrics,
// what `PrometheusMetrics.layerHttp` serves on /metrics), and docs/observability.md's metric table
// kept true: every metric the packages define is listed with the type it is defined with.
import { assert, describe, it } from "@effect/vitest"
import { Consumer, DocumentStore, Event, EventStore, ExpectedVersion, MemoryStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { PrometheusMetrics } from "effect/observability"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..", "..")

// The samples of a Prometheus text exposition: name, labels and value per line, and each family's type.
const parse = (text: string) => {
  const types = new Map<string, string>()
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = []
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) types.set(type[1], type[2])
    if (line === "" || line.startsWith("#")) continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.isNotNull(sample, `a sample line: ${line}`)
    const labels = Object.fromEntries(
      [...(sample![2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v])
    )
    samples.push({ name: sample![1], labels, value: Number(sample![3]) })
  }
  const value = (name: string, labels: Record<string, string>) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
  return { types, samples, value }
}

const Totals = DocumentStore.collection("totals", Schema.Struct({ n: Schema.Number }))

describe("metrics export", () => {
  it.live("the store's and consumers' metrics in the Prometheus text format", () =>
    Effect.gen(function*() {
      const text = yield* Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const documents = yield* DocumentStore.DocumentStore
        yield* store.append("tally-1", [Event.make("Counted", {}), Event.make("Counted", {})])
        const last = yield* store.append("tally-1", [Event.make("Counted", {})], {
          expected: ExpectedVersion.exact(1n)
        })
        yield* Effect.flip(store.append("tally-1", [Event.make("Counted", {})], { expected: ExpectedVersion.noStream }))
        yield* Stream.runCollect(store.read("tally-1"))
        yield* documents.put(Totals, "all", { n: 3 })
        yield* (yield* Consumer.get("tally")).waitFor(last.position)
        return yield* PrometheusMetrics.format()
      }).pipe(
        Effect.provide(
          Consumer.layer("tally", { handler: () => Effect.void }).pipe(Layer.provideMerge(MemoryStore.layer()))
        ),
        // A registry of its own: only this test's updates.
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
      const { types, value } = parse(text)
      const memory = { backend: "memory" }
      assert.strictEqual(types.get("strata_appends_total"), "counter")
      assert.strictEqual(value("strata_appends_total", { ...memory, operation: "append" }), 2)
      assert.strictEqual(value("strata_events_appended_total", { ...memory, operation: "append" }), 3)
      assert.strictEqual(value("strata_append_conflicts_total", { ...memory, operation: "append" }), 1)
      assert.strictEqual(
        value("strata_append_errors_total", { ...memory, operation: "append", error: "WrongExpectedVersion" }),
        1
      )
      assert.strictEqual(types.get("strata_append_duration"), "histogram")
      // Every append is timed, the refused one too; durations are milliseconds.
      assert.strictEqual(value("strata_append_duration_count", { ...memory, operation: "append" }), 3)
      assert.strictEqual(value("strata_append_duration_bucket", { ...memory, operation: "append", le: "+Inf" }), 3)
      assert.isDefined(value("strata_append_duration_bucket", { ...memory, operation: "append", le: "10000" }))
      assert.isAtLeast(value("strata_events_read_total", { ...memory, operation: "read" })!, 3)
      assert.strictEqual(
        value("strata_document_operations_total", { ...memory, operation: "put", outcome: "ok" }),
        1
      )
      assert.strictEqual(types.get("strata_consumer_events_handled_total"), "counter")
      assert.strictEqual(value("strata_consumer_events_handled_total", { consumer: "tally" }), 3)
    }))

  it("docs/observability.md lists every metric the packages define, with the type it is defined with", () => {
    const defined = new Map<string, string>()
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name)
        if (entry.isDirectory()) walk(file)
        else if (entry.name.endsWith(".ts")) {
          const text = fs.readFileSync(file, "utf8")
          for (
            const [, kind, name] of text.matchAll(
              /Metric\.(counter|gauge|histogram|timer|summary|frequency)\(\s*"([^"]+)"/g
            )
          ) {
            defined.set(name, kind === "timer" ? "histogram" : kind)
          }
        }
      }
    }
    const packages = path.join(root, "packages")
    for (const pkg of fs.readdirSync(packages)) {
      const src = path.join(packages, pkg, "src")
      if (fs.existsSync(src)) walk(src)
    }
    const guide = fs.readFileSync(path.join(root, "docs", "observability.md"), "utf8")
    // | `name` | type | unit | labels | meaning |
    const listed = new Map(
      [...guide.matchAll(/^\| `(strata_[a-z_]+)` \| (counter|gauge|histogram|summary|frequency) \|/gm)].map((
        [, name, type]
      ) => [name, type])
    )
    assert.isAbove(defined.size, 10)
    assert.deepStrictEqual([...listed.keys()].sort(), [...defined.keys()].sort())
    for (const [name, type] of defined) assert.strictEqual(listed.get(name), type, name)
  })
})
