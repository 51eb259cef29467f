// Tenants on D1: a binding per tenant (two D1 databases of one Miniflare), each a complete store,
// routed by `TenantStores.fromMap`; the isolation suite holds them apart (events, documents,
// checkpoints, leases, live wake-ups).
import { tenantIsolationSuite } from "@strata/conformance"
import { TenantStores } from "@strata/core"
import { D1Store } from "@strata/d1"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Miniflare } from "miniflare"
import type { D1Database } from "./utils.ts"

const tenants = Layer.unwrap(Effect.gen(function*() {
  const miniflare = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const mf = new Miniflare({
        modules: true,
        script: "export default { fetch() { return new Response('') } }",
        d1Databases: ["ACME", "GLOBEX"],
        host: "127.0.0.1",
        port: 0
      })
      await mf.ready
      return mf
    }),
    (mf) => Effect.promise(() => mf.dispose().catch(() => undefined))
  )
  const binding = (name: string) =>
    Effect.promise(async () => (await miniflare.getD1Database(name)) as unknown as D1Database)
  const [acme, globex] = yield* Effect.all([binding("ACME"), binding("GLOBEX")])
  return TenantStores.layer(
    TenantStores.fromMap({
      acme: D1Store.layer({ db: acme, pollInterval: "250 millis" }),
      globex: D1Store.layer({ db: globex, pollInterval: "250 millis" })
    })
  )
}))

tenantIsolationSuite("d1 binding per tenant", tenants)
