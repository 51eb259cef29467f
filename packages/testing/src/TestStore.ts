/**
 * The stores a scenario runs on. Each run builds its layer afresh, so scenarios never see each
 * other's events or documents.
 *
 * @since 0.1.0
 */
import type { DocumentStore, EventStore } from "@strata/core"
import { MemoryStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import type * as Layer from "effect/Layer"

/**
 * A store for scenarios: both services; a build failure fails the scenario.
 *
 * @category models
 * @since 0.1.0
 */
export type TestStore = Layer.Layer<EventStore.EventStore | DocumentStore.DocumentStore, unknown>

/**
 * The in-memory backend (the default of every spec).
 *
 * @category layers
 * @since 0.1.0
 */
export const memory = (): TestStore => MemoryStore.layer()

/**
 * SQLite `:memory:`: the real SQL implementation (transactions, JSON documents, queries), a new
 * database per scenario.
 *
 * @category layers
 * @since 0.1.0
 */
export const sqlite = (): TestStore => SqliteStore.layer({ filename: ":memory:" })

/**
 * Both test stores by name, to run the same scenarios on each.
 *
 * @example
 * import { describe } from "@effect/vitest"
 * import { TestStore } from "@strata/testing"
 *
 * for (const [name, store] of TestStore.all) describe(name, () => {
 *   // ... DeciderSpec.make(Account, { store }) ...
 * })
 *
 * @category layers
 * @since 0.1.0
 */
export const all: ReadonlyArray<readonly [name: string, store: () => TestStore]> = [
  ["memory", memory],
  ["sqlite :memory:", sqlite]
]
