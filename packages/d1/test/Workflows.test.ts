// Durable workflows on D1 (Miniflare): the workflow topic with the queue in the store's database.
// The engine needs no transaction: every history record is one append (one batch), every job and
// lease operation one statement. Statements run in the instance's Worker (`worker`), as in
// conformance.test.ts: Miniflare's proxy of the binding blocks the event loop on every statement.
import * as D1Client from "@effect/sql-d1/D1Client"
import { workflowSuite } from "@strata/conformance"
import { D1Dialect, D1Store } from "@strata/d1"
import { SqlJobs } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { D1TestDatabase } from "./utils.ts"

workflowSuite(
  "d1 (Miniflare)",
  Layer.unwrap(Effect.map(D1TestDatabase, ({ worker: db }) => {
    const store = D1Store.layer({ db })
    return Layer.provideMerge(
      Layer.unwrap(
        Effect.map(D1Client.D1Client, (client) => SqlJobs.layer({ dialect: D1Dialect.make(client), backend: "d1" }))
      ),
      store
    )
  })).pipe(Layer.provide(D1TestDatabase.layer))
)
