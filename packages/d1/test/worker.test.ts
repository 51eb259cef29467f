import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Miniflare } from "miniflare"
import * as path from "node:path"
import { rolldown } from "rolldown"

// Bundle examples/worker.ts as a Worker would be deployed, then run it in workerd with a D1 binding.
const bundle = Effect.promise(async () => {
  const build = await rolldown({
    input: path.join(import.meta.dirname, "..", "..", "..", "examples", "worker.ts"),
    platform: "neutral",
    resolve: { conditionNames: ["workerd", "worker", "browser", "import", "default"], mainFields: ["module", "main"] }
  })
  const { output } = await build.generate({ format: "esm" })
  return output[0].code
})

it.live("the example Worker appends and reads through D1Store in workerd", () =>
  Effect.gen(function*() {
    const script = yield* bundle
    const mf = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const mf = new Miniflare({ modules: true, script, d1Databases: ["DB"], compatibilityDate: "2026-01-01" })
        await mf.ready
        return mf
      }),
      (mf) => Effect.promise(() => mf.dispose())
    )
    const call = (method: string, url: string) =>
      Effect.promise(async () => {
        const response = await mf.dispatchFetch(url, { method })
        return { status: response.status, body: await response.json() as Record<string, unknown> }
      })
    const first = yield* call("POST", "http://worker/accounts/ada/deposit?amount=30")
    assert.deepStrictEqual(first, { status: 200, body: { version: "0", position: "1" } })
    yield* call("POST", "http://worker/accounts/ada/deposit?amount=12")
    const read = yield* call("GET", "http://worker/accounts/ada")
    assert.deepStrictEqual(read, { status: 200, body: { id: "ada", balance: 42, events: 2 } })
  }), 120_000)
