import { faultSuite, jobQueueSuite, suite } from "@strata/conformance"
import { SqliteDialect, SqlJobs, SqlStore } from "@strata/sql"
import { SqliteClient, SqliteStore } from "@strata/sqlite"
import * as Layer from "effect/Layer"

// The whole conformance suite on an in-memory SQLite database (its layer hands out the SqlClient, so
// the exactly-once topic runs too), and faults injected into that client.
suite("sqlite :memory:", (projections) => SqliteStore.layer({ filename: ":memory:", projections }), {
  pollInterval: "250 millis"
})
// The same suite with single-stream appends on the shared statement path (any SqlClient) instead of
// SqliteAppend's synchronous one: both paths must behave alike.
suite(
  "sqlite :memory: (statement path)",
  SqlStore.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename: ":memory:", safeIntegers: true }))
  ),
  { pollInterval: "250 millis" }
)
// The consumer cases commit checkpoints through the same faulty client the store writes through.
faultSuite(
  "sqlite :memory:",
  SqliteStore.layer({ filename: ":memory:" }),
  SqlStore.make({ dialect: SqliteDialect.dialect, backend: "sqlite" })
)
// Job queues in the store's database (jobs enqueued in a unit of work commit with it), and in another
// database (such an enqueue is refused with Unsupported).
jobQueueSuite(
  "sqlite :memory:",
  SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
    Layer.provideMerge(SqliteStore.layer({ filename: ":memory:" }))
  ),
  { outbox: true }
)
jobQueueSuite(
  "sqlite :memory:, queue in another database",
  Layer.merge(
    SqliteStore.layer({ filename: ":memory:" }),
    SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
      Layer.provide(SqliteClient.layer({ filename: ":memory:", safeIntegers: true }))
    )
  )
)
