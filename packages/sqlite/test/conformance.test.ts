import { exactlyOnceSuite, faultSuite, suite } from "@strata/conformance"
import { SqliteDialect, SqlStore } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"

// The whole conformance suite on an in-memory SQLite database, and the exactly-once topic for
// backends that expose their SqlClient, and faults injected into that client.
suite("sqlite :memory:", SqliteStore.layer({ filename: ":memory:" }), { pollInterval: "250 millis" })
exactlyOnceSuite("sqlite :memory:", SqliteStore.layer({ filename: ":memory:" }))
faultSuite(
  "sqlite :memory:",
  SqliteStore.layer({ filename: ":memory:" }),
  SqlStore.make({ dialect: SqliteDialect.dialect, backend: "sqlite" })
)
