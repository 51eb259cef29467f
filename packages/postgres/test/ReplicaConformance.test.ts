// The conformance suite's read, subscribe, partition and document topics against a store whose reads
// go to a real hot standby (PostgreSQL 15 streaming replication started here, test/replica/cluster.ts)
// while its writes go to the primary. The suite appends and reads back at once, so it also checks that
// a read from the standby sees every write that preceded it. A read the standby could not serve in time
// would be served by the primary and counted in PgReplica.fallbacks: the last check requires none.
import { layer } from "@effect/vitest"
import {
  documentQuerySuite,
  documentSuite,
  fromBackend,
  partitionSuite,
  readSuite,
  resolve,
  subscribeSuite
} from "@strata/conformance"
import { Backend } from "@strata/core/backend"
import { PgReplica } from "@strata/postgres"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import { afterAll, assert, describe } from "vitest"
import { storeLayer } from "./replica/store.ts"

const fallbackCount = Effect.runSync(Effect.map(Metric.value(PgReplica.fallbacks), (state) => Number(state.count)))

describe("Strata conformance (postgres, reads from a hot standby)", async () => {
  const scope = Scope.makeUnsafe()
  const context = await Effect.runPromise(
    Layer.buildWithScope(storeLayer({ standbys: 1, replicaTimeout: "30 seconds" }), scope).pipe(
      Effect.timeout("180 seconds")
    )
  )
  afterAll(async () => {
    const replicas = Context.get(context, PgReplica.Replicas)
    assert.strictEqual(replicas.replicas.length, 1)
    assert.strictEqual(replicas.consistency, "replica")
    const fallbacks = await Effect.runPromise(Metric.value(PgReplica.fallbacks))
    assert.strictEqual(Number(fallbacks.count) - fallbackCount, 0, "every routed read was served by the standby")
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }, 60_000)
  const options = resolve(fromBackend(Context.get(context, Backend.Backend), {}))
  layer(Layer.succeedContext(context), { timeout: "60 seconds", excludeTestServices: true })((it) => {
    readSuite(it, options)
    subscribeSuite(it, options)
    partitionSuite(it, options)
    documentSuite(it, options)
    documentQuerySuite(it, options)
  })
})
