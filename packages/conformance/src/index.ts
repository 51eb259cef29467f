/**
 * @strata/conformance: the test suite every Strata backend runs, written once with @effect/vitest.
 *
 * A backend's test file is one line:
 *
 * @example
 * // packages/sqlite/test/conformance.test.ts
 * import { suite } from "@strata/conformance"
 * import { SqliteStore } from "@strata/sqlite"
 *
 * suite("sqlite", SqliteStore.layer({ filename: ":memory:" }))
 *
 * All tests of a file share one store (the Layer is built once), and may share a database with other
 * files, so every test writes under names of its own (a random category, event types and
 * collections) and filters global reads by them. Tests run on the real clock: subscriptions, polls
 * and max-age retention are real-time behaviour.
 *
 * To run part of the suite, call the topic functions ({@link appendSuite}, {@link readSuite}, ...)
 * inside your own `layer(...)` block, with `excludeTestServices: true` so the clock is real.
 *
 * @module @strata/conformance
 * @since 0.1.0
 */
import type * as Layer from "effect/Layer"
import { adminSuite } from "./adminSuite.ts"
import { appendSuite } from "./appendSuite.ts"
import { concurrencySuite } from "./concurrencySuite.ts"
import { consumerSuite } from "./consumerSuite.ts"
import { documentQuerySuite } from "./documentQuerySuite.ts"
import { documentSuite } from "./documentSuite.ts"
import { eventSuite } from "./eventSuite.ts"
import { expectedVersionSuite } from "./expectedVersionSuite.ts"
import { inputSuite } from "./inputSuite.ts"
import { withBuilt } from "./internal/built.ts"
import { lifecycleSuite } from "./lifecycleSuite.ts"
import { metadataSuite } from "./metadataSuite.ts"
import { projectionSuite } from "./projectionSuite.ts"
import { readSuite } from "./readSuite.ts"
import { retentionSuite } from "./retentionSuite.ts"
import { sizeSuite } from "./sizeSuite.ts"
import { snapshotSuite } from "./snapshotSuite.ts"
import { subscribeSuite } from "./subscribeSuite.ts"
import { type ConformanceIt, fromBackend, resolve, type Services, type SuiteOptions } from "./SuiteOptions.ts"
import { supervisedConsumerSuite } from "./supervisedConsumerSuite.ts"
import { unitOfWorkSuite } from "./unitOfWorkSuite.ts"

export { adminSuite } from "./adminSuite.ts"
export { appendSuite } from "./appendSuite.ts"
export { concurrencySuite } from "./concurrencySuite.ts"
export { consumerSuite } from "./consumerSuite.ts"
export { documentQuerySuite } from "./documentQuerySuite.ts"
export { documentSuite } from "./documentSuite.ts"
export { eventSuite } from "./eventSuite.ts"
export { exactlyOnceSuite } from "./exactlyOnceSuite.ts"
export { expectedVersionSuite } from "./expectedVersionSuite.ts"
export { type FaultPoint, faultSuite, type MakeStore } from "./faultSuite.ts"
export { type InlineProjectionOptions, inlineProjectionSuite } from "./inlineProjectionSuite.ts"
export { hostileStrings, inputSuite } from "./inputSuite.ts"
export { leaseSuite, type LeaseSuiteOptions } from "./leaseSuite.ts"
export { lifecycleSuite } from "./lifecycleSuite.ts"
export { metadataSuite } from "./metadataSuite.ts"
export { projectionSuite } from "./projectionSuite.ts"
export { readSuite } from "./readSuite.ts"
export { retentionSuite } from "./retentionSuite.ts"
export { sizeSuite } from "./sizeSuite.ts"
export { snapshotSuite } from "./snapshotSuite.ts"
export { subscribeSuite } from "./subscribeSuite.ts"
export type { BackendOptions, ConformanceIt, ResolvedOptions, Services, SuiteOptions } from "./SuiteOptions.ts"
export { fromBackend, resolve } from "./SuiteOptions.ts"
export { supervisedConsumerSuite } from "./supervisedConsumerSuite.ts"
export { unitOfWorkSuite } from "./unitOfWorkSuite.ts"

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
  lifecycleSuite,
  retentionSuite,
  snapshotSuite,
  documentSuite,
  documentQuerySuite,
  inputSuite,
  sizeSuite,
  consumerSuite,
  metadataSuite,
  supervisedConsumerSuite,
  adminSuite,
  unitOfWorkSuite,
  projectionSuite
]

/**
 * Registers the whole conformance suite for a backend: one `describe` block named
 * `Strata conformance (<name>)`, sharing one instance of `storeLayer` across its tests.
 *
 * **Details**
 *
 * The Layer is built while the suite is collected (within `options.timeout`), and released after the
 * last test. What the backend can do is read from it (`Backend.Backend`: capabilities, how it
 * commits, whether it keeps parked events), so the suite checks each backend against what it says of
 * itself; `options` only tune the tests to the backend's speed. Tests see the real clock
 * (`excludeTestServices`), never `TestClock`.
 *
 * @category suites
 * @since 0.1.0
 */
export const suite = (name: string, storeLayer: Layer.Layer<Services, unknown>, options?: SuiteOptions): void =>
  withBuilt(`Strata conformance (${name})`, storeLayer, resolve(options).timeout, (it, backend) => {
    const resolved = resolve(fromBackend(backend, options))
    for (const topic of topics) topic(it as ConformanceIt, resolved)
  })
