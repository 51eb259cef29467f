// The health routes through a real HTTP server: 200 while ready and live; a backend that does not
// answer makes /health and /health/ready 503 while /health/live stays 200.
import { assert, describe, layer } from "@effect/vitest"
import { MemoryStore, StoreError } from "@strata/core"
import { Backend } from "@strata/core/backend"
import { HealthHttp } from "@strata/http"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { request, serve } from "./fixtures.ts"

describe("HealthHttp over a real HTTP server", () => {
  layer(serve(HealthHttp.layer()).pipe(Layer.provide(MemoryStore.layer())), { excludeTestServices: true })((it) => {
    it.effect("a healthy store: 200 on /health, /health/ready and /health/live, never cached", () =>
      Effect.gen(function*() {
        const report = yield* request("/health")
        assert.strictEqual(report.status, 200)
        assert.strictEqual(report.headers.get("cache-control"), "no-store")
        assert.strictEqual(report.json!.status, "up")
        assert.strictEqual(report.json!.backend, "memory")
        assert.deepStrictEqual((report.json!.migrations as { status: string }).status, "current")
        const ready = yield* request("/health/ready")
        assert.deepStrictEqual([ready.status, ready.json], [200, { ready: true, status: "up", problems: [] }])
        const live = yield* request("/health/live")
        assert.deepStrictEqual([live.status, live.json], [200, { live: true, status: "up", problems: [] }])
      }))
  })

  const Unreachable = Layer.effect(
    Backend.Backend,
    Effect.map(Backend.Backend, (backend) => ({
      ...backend,
      eventStore: {
        ...backend.eventStore,
        readAll: () => Stream.fail(new StoreError.StoreUnavailable({ operation: "readAll", reason: "ConnectionError" }))
      }
    }))
  ).pipe(Layer.provideMerge(MemoryStore.layer()))
  layer(serve(HealthHttp.layer({ path: "/status" })).pipe(Layer.provide(Unreachable)), { excludeTestServices: true })(
    (it) => {
      it.effect("an unreachable backend: not ready (503), still live (200)", () =>
        Effect.gen(function*() {
          const report = yield* request("/status")
          assert.strictEqual(report.status, 503)
          assert.strictEqual(report.json!.status, "down")
          const ready = yield* request("/status/ready")
          assert.strictEqual(ready.status, 503)
          assert.strictEqual(ready.json!.ready, false)
          assert.include(String((ready.json!.problems as Array<string>)[0]), "unreachable")
          const live = yield* request("/status/live")
          assert.strictEqual(live.status, 200)
        }))
    }
  )
})
