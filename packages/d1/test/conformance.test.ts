import { suite } from "@strata/conformance"
import { D1Store } from "@strata/d1"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Miniflare } from "miniflare"

// A real workerd D1 database from Miniflare, disposed with the layer.
const D1 = Layer.unwrap(Effect.gen(function*() {
  const mf = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const mf = new Miniflare({
        modules: true,
        script: "export default { fetch() { return new Response('') } }",
        d1Databases: ["DB"]
      })
      await mf.ready
      return mf
    }),
    (mf) => Effect.promise(() => mf.dispose())
  )
  const db = yield* Effect.promise(() => mf.getD1Database("DB"))
  return D1Store.layer({ db: db as never })
}))

suite("d1 (Miniflare)", D1)
