import { exactlyOnceSuite, suite } from "@strata/conformance"
import { SqliteStore } from "@strata/sqlite"

// The whole conformance suite on an in-memory SQLite database, and the exactly-once topic for
// backends that expose their SqlClient.
suite("sqlite :memory:", SqliteStore.layer({ filename: ":memory:" }))
exactlyOnceSuite("sqlite :memory:", SqliteStore.layer({ filename: ":memory:" }))
