// Durable workflows on SQLite: the workflow topic with the queue in the store's database.
import { workflowSuite } from "@strata/conformance"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Layer from "effect/Layer"

workflowSuite(
  "sqlite :memory:",
  SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
    Layer.provideMerge(SqliteStore.layer({ filename: ":memory:" }))
  )
)
