/**
 * Scenarios on a named store (`Store.tag` / `NamedStore.make`): a fresh store per scenario, provided
 * both under its name (for code that asks for `Orders.EventStore`) and unnamed (for the aggregate or
 * projection under test, and code written against `EventStore.EventStore`), through the same path a
 * program takes: `Orders.layer(...)`, then `Orders.unnamed`.
 *
 * @since 0.1.0
 */
import { MemoryStore, type NamedStore, type Store } from "@strata/core"
import * as Layer from "effect/Layer"

/**
 * A test store bound to `store`, built afresh per scenario: pass it as `store` to
 * `DeciderSpec.make` or `ProjectionSpec.make`. `backend` is the store layer under the name
 * (default: the in-memory backend; `SqliteStore.layer({ filename: ":memory:" })` for SQL).
 *
 * @example
 * ```ts
 * import { type Aggregate, Store } from "@strata/core"
 * import { DeciderSpec, NamedTestStore } from "@strata/testing"
 *
 * declare const Order: Aggregate.Aggregate<{ readonly placed: boolean }, { readonly _tag: "OrderPlaced" }, { readonly _tag: "Place" }>
 * const Orders = Store.tag("orders")
 * const spec = DeciderSpec.make(Order, { store: NamedTestStore.make(Orders) })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const make = <Name extends string>(
  store: NamedStore.NamedStore<Name>,
  backend: Layer.Layer<Store.Services, unknown> = MemoryStore.layer()
): Layer.Layer<Store.Services | NamedStore.NamedServices<Name>, unknown> =>
  // A spec provides its store per scenario, and each provide builds the layer afresh.
  store.unnamed.pipe(Layer.provideMerge(store.layer(backend)))
