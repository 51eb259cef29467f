import * as D1Client from "@effect/sql-d1/D1Client"
import { jobQueueSuite, suite } from "@strata/conformance"
import { D1Dialect, D1Store } from "@strata/d1"
import { SqlJobs } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { D1TestDatabase } from "./utils.ts"

// The whole conformance suite on a real workerd D1 database from Miniflare, each statement run by the
// instance's Worker on its D1 binding (`D1TestDatabase.worker`: Miniflare's Node proxy of the binding
// blocks the event loop for three round trips per statement, which made this file take twice as long
// and starved the lease and retention timings of every other fiber). D1 runs every append as a
// batch over an RPC hop, so the one-stream contention test uses fewer appends per writer, and the size
// tests append 800 events rather than 8,000 (one INSERT statement per event in the batch: ~5 ms each
// in Miniflare on the 2-core machine, 90 s for the default sizes). D1's 100-parameter limit is
// crossed either way.
// D1 statements queue behind each other in Miniflare: the consumer-group test's leases live longer.
suite(
  "d1 (Miniflare)",
  (projections) =>
    Layer.unwrap(Effect.map(D1TestDatabase, ({ worker }) => D1Store.layer({ db: worker, projections }))).pipe(
      Layer.provide(D1TestDatabase.layer)
    ),
  // What D1 cannot do (transactions, inline projections, 64-bit integers) the suite reads from the layer.
  { appendsPerWriter: 8, largeAppendEvents: 800, pollInterval: "250 millis", groupTtl: "4 seconds", groupRounds: 6 }
)
// Job queues on D1: every job operation is one statement, so D1 holds a queue without transactions;
// D1 has no units of work, so an enqueue in one is refused; jobs carried by an append join its batch.
jobQueueSuite(
  "d1 (Miniflare)",
  Layer.unwrap(Effect.map(D1TestDatabase, ({ worker: db }) => {
    const store = D1Store.layer({ db })
    return Layer.provideMerge(
      Layer.unwrap(
        Effect.map(D1Client.D1Client, (client) => SqlJobs.layer({ dialect: D1Dialect.make(client), backend: "d1" }))
      ),
      store
    )
  })).pipe(Layer.provide(D1TestDatabase.layer)),
  { carried: true }
)
