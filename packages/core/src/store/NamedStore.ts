/**
 * Several stores in one program: a store declared under a name has services of its own, distinct
 * from every other store's and from the unnamed ones (`EventStore`, `DocumentStore`, ...), so an
 * orders context on SQLite and a billing context on PostgreSQL live side by side, each typed.
 *
 * {@link make} declares a store: `Orders.EventStore`, `Orders.DocumentStore` and the rest are its
 * services, `Orders.layer(anyStoreLayer)` provides them, and `Orders.use(effect)` runs code written
 * against the unnamed services (consumers, projections, aggregates, the testing kit, your own
 * functions) on that store. Unnamed use is unchanged: a program with one store needs none of this.
 *
 * `Orders.layer` keeps the whole context the store layer built (its `SqlClient` too), under the
 * name only: nothing of it leaks into the program unnamed, so two SQL stores never fight over one
 * `SqlClient` slot, and inside `Orders.use` exactly-once projections write through the orders
 * store's own client.
 *
 * @example
 * ```ts
 * import { MemoryStore, NamedStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const Orders = NamedStore.make("orders")
 * const Billing = NamedStore.make("billing")
 *
 * const program = Effect.gen(function*() {
 *   const orders = yield* Orders.EventStore
 *   const billing = yield* Billing.EventStore
 *   yield* orders.append("order-1", [{ type: "Placed", data: {} }])
 *   yield* billing.append("invoice-1", [{ type: "Issued", data: {} }])
 * }).pipe(Effect.provide([Orders.layer(MemoryStore.layer()), Billing.layer(MemoryStore.layer())]))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Backend } from "../backend/Backend.ts"
import * as LeaseStore from "../backend/LeaseStore.ts"
import * as ParkedEvents from "../backend/ParkedEvents.ts"
import { DocumentStore, type DocumentStoreShape } from "../DocumentStore.ts"
import { EventStore, type EventStoreShape } from "../EventStore.ts"
import * as Checkpoints from "../processing/Checkpoints.ts"
import { StoreAdmin, type StoreAdminShape } from "../StoreAdmin.ts"
import * as UnitOfWork from "../UnitOfWork.ts"
import type { Services } from "./Store.ts"

/**
 * The identifier of one service of the store named `Name` (`Service` is the unnamed service's name:
 * `"EventStore"`, `"DocumentStore"`, ..., or `"Store"` for the whole bundle). Two names give two
 * identifiers, so one store's services can never be provided for another's.
 *
 * @category models
 * @since 0.1.0
 */
export interface Named<out Name extends string, out Service extends string> {
  readonly "~strata/NamedStore": { readonly name: Name; readonly service: Service }
}

/**
 * Every service the store named `Name` provides: one per unnamed store service, and the bundle.
 *
 * @category models
 * @since 0.1.0
 */
export type NamedServices<Name extends string> =
  | Named<Name, "EventStore">
  | Named<Name, "DocumentStore">
  | Named<Name, "StoreAdmin">
  | Named<Name, "LeaseStore">
  | Named<Name, "UnitOfWork">
  | Named<Name, "ParkedEvents">
  | Named<Name, "Checkpoints">
  | Named<Name, "Backend">
  | Named<Name, "Store">

/**
 * A store declared under a name (see the module documentation).
 *
 * @category models
 * @since 0.1.0
 */
export interface NamedStore<Name extends string> {
  readonly name: Name
  readonly EventStore: Context.Service<Named<Name, "EventStore">, EventStoreShape>
  readonly DocumentStore: Context.Service<Named<Name, "DocumentStore">, DocumentStoreShape>
  readonly StoreAdmin: Context.Service<Named<Name, "StoreAdmin">, StoreAdminShape>
  readonly LeaseStore: Context.Service<Named<Name, "LeaseStore">, LeaseStore.LeaseStoreShape>
  readonly UnitOfWork: Context.Service<Named<Name, "UnitOfWork">, UnitOfWork.UnitOfWorkShape>
  readonly ParkedEvents: Context.Service<Named<Name, "ParkedEvents">, ParkedEvents.ParkedEventStore>
  readonly Checkpoints: Context.Service<Named<Name, "Checkpoints">, Checkpoints.CheckpointStore>
  readonly Backend: Context.Service<Named<Name, "Backend">, Backend>
  /**
   * The whole context the store layer built (every unnamed service, and whatever else it provided,
   * such as its `SqlClient`), as {@link NamedStore.use} provides it.
   */
  readonly Store: Context.Service<Named<Name, "Store">, Context.Context<Services>>
  /** The store's services under this name, from any store layer (`SqliteStore.layer(...)`, ...). */
  readonly layer: <E, R>(store: Layer.Layer<Services, E, R>) => Layer.Layer<NamedServices<Name>, E, R>
  /** Runs `effect`, written against the unnamed services, on this store. */
  readonly use: <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, Exclude<R, Services> | Named<Name, "Store">>
  /** {@link NamedStore.use} for a stream. */
  readonly useStream: <A, E, R>(
    stream: Stream.Stream<A, E, R>
  ) => Stream.Stream<A, E, Exclude<R, Services> | Named<Name, "Store">>
  /**
   * This store's services, unnamed: `Layer.provide(Orders.unnamed)` binds a layer written against
   * the unnamed services (`Consumer.layer`, `ConsumerGroup.layer`) to this store.
   */
  readonly unnamed: Layer.Layer<Services, never, Named<Name, "Store">>
  /** {@link NamedStore.layer} and {@link NamedStore.unnamed} at once: a layer bound to this store. */
  readonly provide: <A, E, R>(
    layer: Layer.Layer<A, E, R>
  ) => Layer.Layer<A, E, Exclude<R, Services> | Named<Name, "Store">>
}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

/**
 * The rule a store name follows, in words (as {@link StoreNameError} states it).
 *
 * @category constants
 * @since 0.1.0
 */
export const rule = "a store name is 1 to 63 letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit"

/**
 * A store name (from configuration, a command line, ...) that breaks the {@link rule}: refused by
 * {@link fromString} before anything is declared. `name` is the name as given, JSON-quoted and cut
 * at 64 characters, so a hostile one cannot forge log lines.
 *
 * @category errors
 * @since 0.1.0
 */
export class StoreNameError extends Schema.TaggedError<StoreNameError>("@strata/core/NamedStore/StoreNameError")(
  "StoreNameError",
  { name: Schema.String, rule: Schema.String }
) {
  /** A name is the caller's decision: it does not change on its own. */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `${this.name} is not a store name: ${this.rule}`
  }
}

/**
 * Whether `name` follows the {@link rule}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isStoreName = (name: unknown): name is string => typeof name === "string" && namePattern.test(name)

type Digit = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"
type Lower =
  | "a"
  | "b"
  | "c"
  | "d"
  | "e"
  | "f"
  | "g"
  | "h"
  | "i"
  | "j"
  | "k"
  | "l"
  | "m"
  | "n"
  | "o"
  | "p"
  | "q"
  | "r"
  | "s"
  | "t"
  | "u"
  | "v"
  | "w"
  | "x"
  | "y"
  | "z"
type First = Digit | Lower | Uppercase<Lower>
type Rest<S extends string, Count extends ReadonlyArray<unknown>> = S extends "" ? true
  : Count["length"] extends 63 ? false
  : S extends `${infer Head}${infer Tail}` ?
    Head extends First | "_" | "." | "-" ? Rest<Tail, [...Count, unknown]> : false
  : false

/**
 * The compile-time check of a store name written in the code: `unknown` (no constraint) for a
 * literal that follows the {@link rule}, else a type no value has, whose key says what is wrong:
 * the rule, or (for a `string` known only at run time) to use {@link fromString}.
 *
 * @category models
 * @since 0.1.0
 */
export type CheckName<Name extends string> = string extends Name ? {
    readonly "NamedStore.make takes a literal name; a name known only at run time goes through NamedStore.fromString":
      never
  }
  : Name extends `${infer Head}${infer Tail}` ? Head extends First ? Rest<Tail, [unknown]> extends true ? unknown
      : {
        readonly "NamedStore.make: a store name is 1 to 63 letters, digits, _ . or -, starting with a letter or digit":
          never
      }
    : {
      readonly "NamedStore.make: a store name is 1 to 63 letters, digits, _ . or -, starting with a letter or digit":
        never
    }
  : {
    readonly "NamedStore.make: a store name is 1 to 63 letters, digits, _ . or -, starting with a letter or digit":
      never
  }

/**
 * Declares a store under `name` (letters, digits, `_`, `.` and `-`, up to 63 characters; it names
 * the services' keys, so two declarations with one name are one store).
 *
 * The name is checked when the program compiles: a literal that breaks the {@link rule}
 * (`NamedStore.make("bad name")`) is a type error, and so is a `string` known only at run time,
 * which goes through {@link fromString} (a typed {@link StoreNameError}). A name that reaches `make`
 * past the type check (cast from `any`) is a programming error: it throws.
 *
 * @example
 * ```ts
 * import { Consumer, EventStore, MemoryStore, NamedStore } from "@strata/core"
 * import { Effect, Layer } from "effect"
 *
 * const Orders = NamedStore.make("orders")
 *
 * // code written against the unnamed EventStore, run on the orders store
 * const count = Orders.use(Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   return yield* store.streamInfo("order-1")
 * }))
 *
 * // a consumer bound to the orders store
 * const OrdersMailer = Orders.provide(Consumer.layer("mailer", { handler: () => Effect.void }))
 * const Live = OrdersMailer.pipe(Layer.provideMerge(Orders.layer(MemoryStore.layer())))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Name extends string>(name: Name & CheckName<Name>): NamedStore<Name> => {
  if (!isStoreName(name)) {
    throw new TypeError(
      `NamedStore.make: ${
        quoted(name)
      } is not a store name (${rule}); use NamedStore.fromString for names known at run time`
    )
  }
  return declare<Name>(name)
}

const quoted = (name: unknown) => {
  const text = typeof name === "string" ? name : String(name)
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text)
}

/**
 * Declares a store under a name known only at run time (configuration, a command line): the
 * store, or {@link StoreNameError} naming the {@link rule}, before anything is declared.
 *
 * @example
 * ```ts
 * import { MemoryStore, NamedStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const program = (name: string) =>
 *   Effect.gen(function*() {
 *     const Store = yield* NamedStore.fromString(name)
 *     const append = Effect.gen(function*() {
 *       const store = yield* Store.EventStore
 *       return yield* store.append("order-1", [{ type: "Placed", data: {} }])
 *     })
 *     return yield* Effect.provide(append, Store.layer(MemoryStore.layer()))
 *   })
 * // program("bad name") fails with StoreNameError
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromString = (name: string): Effect.Effect<NamedStore<string>, StoreNameError> =>
  isStoreName(name)
    ? Effect.sync(() => declare(name))
    : Effect.fail(new StoreNameError({ name: quoted(name), rule }))

const declare = <Name extends string>(name: Name): NamedStore<Name> => {
  const key = (service: string) => `@strata/core/NamedStore/${name}/${service}`
  const Store = Context.Service<Named<Name, "Store">, Context.Context<Services>>(key("Store"))
  const self: Omit<NamedStore<Name>, "layer" | "use" | "useStream" | "unnamed" | "provide"> = {
    name,
    EventStore: Context.Service(key("EventStore")),
    DocumentStore: Context.Service(key("DocumentStore")),
    StoreAdmin: Context.Service(key("StoreAdmin")),
    LeaseStore: Context.Service(key("LeaseStore")),
    UnitOfWork: Context.Service(key("UnitOfWork")),
    ParkedEvents: Context.Service(key("ParkedEvents")),
    Checkpoints: Context.Service(key("Checkpoints")),
    Backend: Context.Service(key("Backend")),
    Store
  }
  const named = (context: Context.Context<Services>): Context.Context<NamedServices<Name>> =>
    Context.make(self.EventStore, Context.get(context, EventStore)).pipe(
      Context.add(self.DocumentStore, Context.get(context, DocumentStore)),
      Context.add(self.StoreAdmin, Context.get(context, StoreAdmin)),
      Context.add(self.LeaseStore, Context.get(context, LeaseStore.LeaseStore)),
      Context.add(self.UnitOfWork, Context.get(context, UnitOfWork.UnitOfWork)),
      Context.add(self.ParkedEvents, Context.get(context, ParkedEvents.ParkedEvents)),
      Context.add(self.Checkpoints, Context.get(context, Checkpoints.Checkpoints)),
      Context.add(self.Backend, Context.get(context, Backend)),
      Context.add(Store, context)
    )
  const unnamed: Layer.Layer<Services, never, Named<Name, "Store">> = Layer.effectContext(Store)
  return {
    ...self,
    layer: (store) =>
      // Built on its own (not merged into the program's context), so only the named keys come out.
      Layer.effectContext(Effect.map(Layer.build(store), named)),
    use: (effect) => Effect.flatMap(Store, (context) => Effect.provideContext(effect, context)),
    useStream: (stream) => Stream.unwrap(Effect.map(Store, (context) => Stream.provideContext(stream, context))),
    unnamed,
    provide: (layer) => Layer.provide(layer, unnamed)
  }
}
