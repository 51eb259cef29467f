// The registry of the consumers a program started with `Consumer.layer`, by name. `Consumer.ts`
// exports it; it lives here so the public module keeps to the consumer itself.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { InvalidArgument } from "../../../StoreError.ts"
import type { Consumer } from "./model.ts"

/**
 * The consumers a program started with {@link layer}, by name.
 *
 * **Details**
 *
 * Every `Consumer.layer` provides the one registry ({@link layerRegistry} is memoized like any layer,
 * so the consumer layers of one program share it) and registers itself for as long as it runs.
 *
 * @example
 * ```ts
 * import { Consumer, Event, EventStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const { position } = yield* store.append("cart-1", [Event.make("ItemAdded", { sku: "A" })])
 *   const totals = yield* Consumer.get("cart-totals")
 *   yield* totals.waitFor(position)
 * })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Consumers extends Context.Service<Consumers, {
  /** The running consumer of that name; `InvalidArgument` when there is none. */
  readonly get: (name: string) => Effect.Effect<Consumer, InvalidArgument>
  readonly all: Effect.Effect<ReadonlyArray<Consumer>>
  /** Registers a consumer until the scope closes; `InvalidArgument` when the name is taken. */
  readonly register: (consumer: Consumer<any>) => Effect.Effect<void, InvalidArgument, Scope.Scope>
}>()("@strata/core/Consumer/Consumers") {}

/**
 * An empty registry.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRegistry: Effect.Effect<Consumers["Service"]> = Effect.sync(() => {
  const running = new Map<string, Consumer>()
  return Consumers.of({
    get: (name) =>
      Effect.suspend(() => {
        const consumer = running.get(name)
        return consumer === undefined
          ? Effect.fail(
            new InvalidArgument({
              operation: "Consumers.get",
              detail: `no consumer named ${JSON.stringify(name)} is running (running: ${
                [...running.keys()].join(", ") || "none"
              })`
            })
          )
          : Effect.succeed(consumer)
      }),
    all: Effect.sync(() => [...running.values()]),
    register: (consumer) =>
      Effect.suspend(() =>
        running.has(consumer.name)
          ? Effect.fail(
            new InvalidArgument({
              operation: "Consumer.layer",
              detail: `a consumer named ${JSON.stringify(consumer.name)} is already running in this program`
            })
          )
          : Effect.acquireRelease(
            Effect.sync(() => void running.set(consumer.name, consumer)),
            () => Effect.sync(() => void running.delete(consumer.name))
          )
      )
  })
})

/**
 * The registry layer every {@link layer} provides (one value, so it is built once per program).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRegistry: Layer.Layer<Consumers> = Layer.effect(Consumers, makeRegistry)
