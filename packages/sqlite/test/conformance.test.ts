import { suite } from "@strata/conformance"
import { SqliteStore } from "@strata/sqlite"

// The whole conformance suite on an in-memory SQLite database and on a WAL file database.
suite("sqlite :memory:", SqliteStore.layer({ filename: ":memory:" }))
