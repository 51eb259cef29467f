/**
 * A D1 store opened with `migrate: false` on a new binding: typed `StoreUnavailable` (`NotMigrated`,
 * naming `strata migrate`) from every operation, no defect; after the migrations, a working store.
 * (D1 reports every database error as an UnknownError: only the text says a table is missing.)
 */
import { notMigratedSuite } from "@strata/conformance/lifecycleSuite"
import { D1Store } from "@strata/d1"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { D1TestDatabase } from "../../d1/test/utils.ts"

notMigratedSuite(
  "d1, a new binding",
  Layer.unwrap(Effect.map(D1TestDatabase, ({ db }) => D1Store.layer({ db, migrate: false }))).pipe(
    Layer.provide(D1TestDatabase.layer)
  )
)
