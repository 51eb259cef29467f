// Durable workflows on PostgreSQL: the workflow topic with the queue in the store's database.
import { workflowSuite } from "@strata/conformance"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlJobs } from "@strata/sql"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

workflowSuite(
  "postgres",
  SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
    Layer.provideMerge(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
  )
)
