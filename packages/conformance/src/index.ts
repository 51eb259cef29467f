/**
 * @strata/conformance: the test suite every Strata backend runs, written once with @effect/vitest.
 *
 * All tests of a file share one store (the Layer is built once), and may share a database with other
 * files, so every test writes under names of its own (a random category, event types and
 * collections) and filters global reads by them. Tests run on the real clock: subscriptions, polls
 * and max-age retention are real-time behaviour.
 *
 * To run part of the suite, call the topic functions ({@link appendSuite}, {@link readSuite}, ...)
 * inside your own `layer(...)` block, with `excludeTestServices: true` so the clock is real.
 *
 * @example A backend's test file is one line
 * ```ts
 * // packages/sqlite/test/conformance.test.ts
 * import { suite } from "@strata/conformance"
 * import { SqliteStore } from "@strata/sqlite"
 *
 * suite("sqlite", SqliteStore.layer({ filename: ":memory:" }))
 * ```
 *
 * @module @strata/conformance
 * @since 0.1.0
 */
import { describe } from "@effect/vitest"
import type { Projection } from "@strata/core"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { adminSuite } from "./adminSuite.ts"
import { appendSuite } from "./appendSuite.ts"
import { binarySuite } from "./binarySuite.ts"
import { concurrencySuite } from "./concurrencySuite.ts"
import { consumerSuite } from "./consumerSuite.ts"
import { dcbSuite } from "./dcbSuite.ts"
import { documentBatchSuite } from "./documentBatchSuite.ts"
import { documentQuerySuite } from "./documentQuerySuite.ts"
import { documentSuite } from "./documentSuite.ts"
import { eventSuite } from "./eventSuite.ts"
import { exactlyOnceTopic } from "./exactlyOnceSuite.ts"
import { expectedVersionSuite } from "./expectedVersionSuite.ts"
import { inlineProjectionTopic } from "./inlineProjectionSuite.ts"
import { inputSuite } from "./inputSuite.ts"
import { withBuilt } from "./internal/built.ts"
import { leaseSuite, type LeaseSuiteOptions } from "./leaseSuite.ts"
import { lifecycleSuite } from "./lifecycleSuite.ts"
import { metadataSuite } from "./metadataSuite.ts"
import { partitionSuite } from "./partitionSuite.ts"
import { projectionSuite } from "./projectionSuite.ts"
import { readSuite } from "./readSuite.ts"
import { retentionSuite } from "./retentionSuite.ts"
import { sizeSuite } from "./sizeSuite.ts"
import { snapshotSuite } from "./snapshotSuite.ts"
import { subscribeSuite } from "./subscribeSuite.ts"
import { subscribeWithSuite } from "./subscribeWithSuite.ts"
import { type ConformanceIt, fromBackend, resolve, type Services, type SuiteOptions } from "./SuiteOptions.ts"
import { supervisedConsumerSuite } from "./supervisedConsumerSuite.ts"
import { unitOfWorkSuite } from "./unitOfWorkSuite.ts"

export { adminSuite } from "./adminSuite.ts"
export { appendSuite } from "./appendSuite.ts"
export { binarySuite } from "./binarySuite.ts"
export { concurrencySuite } from "./concurrencySuite.ts"
export { consumerSuite } from "./consumerSuite.ts"
export { type DcbRaceOptions, dcbRaceSuite } from "./dcbRaceSuite.ts"
export { dcbSuite } from "./dcbSuite.ts"
export { documentBatchSuite } from "./documentBatchSuite.ts"
export { documentQuerySuite } from "./documentQuerySuite.ts"
export { documentSuite } from "./documentSuite.ts"
export { eventSuite } from "./eventSuite.ts"
export { exactlyOnceSuite, exactlyOnceTopic } from "./exactlyOnceSuite.ts"
export { expectedVersionSuite } from "./expectedVersionSuite.ts"
export { type FaultPoint, faultSuite, type MakeStore } from "./faultSuite.ts"
export { type InlineProjectionOptions, inlineProjectionSuite, inlineProjectionTopic } from "./inlineProjectionSuite.ts"
export { hostileStrings, inputSuite } from "./inputSuite.ts"
export { jobQueueSuite, type JobQueueSuiteOptions } from "./jobQueueSuite.ts"
export { leaseSuite, type LeaseSuiteOptions } from "./leaseSuite.ts"
export { lifecycleSuite } from "./lifecycleSuite.ts"
export { metadataSuite } from "./metadataSuite.ts"
export { partitionSuite } from "./partitionSuite.ts"
export { projectionSuite } from "./projectionSuite.ts"
export { readSuite } from "./readSuite.ts"
export { retentionSuite } from "./retentionSuite.ts"
export { sizeSuite } from "./sizeSuite.ts"
export { snapshotSuite } from "./snapshotSuite.ts"
export { subscribeSuite } from "./subscribeSuite.ts"
export { subscribeWithSuite } from "./subscribeWithSuite.ts"
export type { BackendOptions, ConformanceIt, ResolvedOptions, Services, SuiteOptions } from "./SuiteOptions.ts"
export { fromBackend, resolve } from "./SuiteOptions.ts"
export { supervisedConsumerSuite } from "./supervisedConsumerSuite.ts"
export { tenantIsolationSuite } from "./tenantIsolationSuite.ts"
export { unitOfWorkSuite } from "./unitOfWorkSuite.ts"
export { workflowSuite, type WorkflowSuiteOptions } from "./workflowSuite.ts"

/**
 * Every topic of the suite, in the order `suite` registers them.
 *
 * @category suites
 * @since 0.1.0
 */
export const topics: ReadonlyArray<(it: ConformanceIt, options?: SuiteOptions) => void> = [
  appendSuite,
  expectedVersionSuite,
  eventSuite,
  concurrencySuite,
  readSuite,
  subscribeSuite,
  subscribeWithSuite,
  partitionSuite,
  dcbSuite,
  lifecycleSuite,
  retentionSuite,
  snapshotSuite,
  documentSuite,
  documentBatchSuite,
  documentQuerySuite,
  inputSuite,
  sizeSuite,
  binarySuite,
  consumerSuite,
  metadataSuite,
  supervisedConsumerSuite,
  adminSuite,
  unitOfWorkSuite,
  projectionSuite
]

/**
 * A backend's store layer, or a function from inline projections to one (then the suite also checks
 * inline projections: that they run, or that the layer refuses them where the backend cannot).
 *
 * @category models
 * @since 0.1.0
 */
export type StoreLayer =
  | Layer.Layer<Services, unknown>
  | ((projections: ReadonlyArray<Projection.Any>) => Layer.Layer<Services, unknown>)

/**
 * Registers the whole conformance suite for a backend: one `describe` block named
 * `Strata conformance (<name>)`, sharing one instance of the store across its topics.
 *
 * **Details**
 *
 * The Layer is built while the suite is collected (within `options.timeout`), and released after the
 * last test. What the backend can do is read from it (`Backend.Backend`: capabilities, how it
 * commits, whether it keeps leases and parked events), so the suite checks each backend against
 * what it says of itself; `options` only tune the tests to the backend's speed. From the same record:
 * - a backend with leases also gets the lease and consumer-group topic (on an instance of its own);
 * - a layer that hands out its `SqlClient` and commits in transactions also gets the exactly-once
 *   projection topic;
 * - given a function of inline projections, the inline-projection topic.
 *
 * Tests see the real clock (`excludeTestServices`); only the lease-holding tests move a `TestClock`
 * of their own, between store calls, to check deadlines to the millisecond.
 *
 * @category suites
 * @since 0.1.0
 */
export const suite = (name: string, store: StoreLayer, options?: LeaseSuiteOptions): void => {
  const makeLayer = Layer.isLayer(store)
    ? undefined
    : store as (projections: ReadonlyArray<Projection.Any>) => Layer.Layer<Services, unknown>
  const storeLayer = makeLayer === undefined ? store as Layer.Layer<Services, unknown> : makeLayer([])
  withBuilt(`Strata conformance (${name})`, storeLayer, resolve(options).timeout, (it, backend, context) => {
    const resolved = resolve(fromBackend(backend, options))
    for (const topic of topics) topic(it as ConformanceIt, resolved)
    const sql = Context.getOption(context as Context.Context<unknown>, SqlClient.SqlClient)
    if (sql._tag === "Some" && backend.commit._tag === "Transactional") {
      describe("exactly-once projections", () => exactlyOnceTopic(it as never))
    }
    if (backend.leases !== undefined) leaseSuite(name, storeLayer, options)
    if (makeLayer !== undefined) {
      describe(`Strata inline projections (${name})`, () =>
        inlineProjectionTopic(makeLayer, resolved, backend.beforeCommit !== undefined))
    }
  })
}
