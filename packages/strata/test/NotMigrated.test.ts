/**
 * A PostgreSQL store opened with `migrate: false` on a database nobody migrated, and in a schema no
 * store has started in: typed `StoreUnavailable` (`NotMigrated`, naming `strata migrate`) from every
 * operation, no defect; after the migrations, a working store.
 */
import { notMigratedSuite } from "@strata/conformance/lifecycleSuite"
import { PgStore } from "@strata/postgres"
import { PgTestDatabase } from "@strata/test-utils"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

notMigratedSuite(
  "postgresql, a new database",
  Layer.unwrap(Effect.map(PgTestDatabase, ({ url }) => PgStore.layer({ url, migrate: false }))).pipe(
    Layer.provide(PgTestDatabase.layer)
  )
)

notMigratedSuite(
  "postgresql, a schema no store has started in",
  Layer.unwrap(Effect.map(PgTestDatabase, ({ url }) => PgStore.layer({ url, schema: "never_started", migrate: false })))
    .pipe(Layer.provide(PgTestDatabase.layer))
)
