/**
 * Given / then for projections: given events appended to their streams, when the projection has
 * handled each of them in global order, then the documents are these. The projection is any
 * per-event handler `(event: RecordedEvent) => Effect<void, E, DocumentStore | EventStore>` (a
 * codec handler, a declarative projection's handler, or a hand-written one), or a consumer's
 * `{ filter, handler }`, whose filter then selects the events handled. Each scenario runs on
 * a fresh store (memory by default, or SQLite `:memory:`), and each event is handled inside
 * `Event.causedBy(event)`, as a consumer does.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { DocumentStore, type Event, EventCodec } from "@strata/core"
 * import { ProjectionSpec } from "@strata/testing"
 * import { Effect, Schema } from "effect"
 *
 * const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Number }) })
 * const BankEvents = EventCodec.make([Deposited])
 * const Balances = DocumentStore.collection("balances", Schema.Struct({ balance: Schema.Number }))
 *
 * // One balance per account: the events of stream `account-1` make document "1".
 * const projectBalances = (event: Event.RecordedEvent) =>
 *   Effect.flatMap(BankEvents.decode(event), ({ event: { amount } }) =>
 *     DocumentStore.update(Balances, event.stream.slice("account-".length), (current) => ({
 *       balance: (current?.balance ?? 0) + amount
 *     })))
 *
 * const spec = ProjectionSpec.make(projectBalances, { codec: BankEvents })
 *
 * it.effect("sums deposits per account", () =>
 *   spec.given([
 *     { stream: "account-1", events: [Deposited.make({ amount: 10 }), Deposited.make({ amount: 5 })] },
 *     { stream: "account-2", events: [Deposited.make({ amount: 1 })] }
 *   ]).then(Balances, [
 *     { id: "1", value: { balance: 15 } },
 *     { id: "2", value: { balance: 1 } }
 *   ]))
 * ```
 *
 * @since 0.1.0
 */
import type { EventCodec } from "@strata/core"
import { DocumentStore, Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { equal, ExpectationFailed, fromThrown, show, unexpected } from "./Expectation.ts"
import { memory, type TestStore } from "./TestStore.ts"

/**
 * One append of the history: events to one stream, in order.
 *
 * @category models
 * @since 0.1.0
 */
export interface GivenAppend<E> {
  readonly stream: string
  readonly events: ReadonlyArray<E>
}

/**
 * A document the collection must hold.
 *
 * @category models
 * @since 0.1.0
 */
export interface ExpectedDocument<A> {
  readonly id: string
  readonly value: A
}

/**
 * The outcome checks of one scenario. Each returns an Effect that runs the whole scenario on a new
 * store and fails with `ExpectationFailed` when the outcome differs.
 *
 * @category models
 * @since 0.1.0
 */
export interface Then<X, R> {
  /** The collection holds exactly these documents (in any order; compared by id). */
  readonly then: <A, I>(
    collection: DocumentStore.Collection<A, I>,
    documents: ReadonlyArray<ExpectedDocument<A>>
  ) => Effect.Effect<void, ExpectationFailed, R>
  /** The document `id` exists with this value. */
  readonly thenDocument: <A, I>(
    collection: DocumentStore.Collection<A, I>,
    id: string,
    value: A
  ) => Effect.Effect<void, ExpectationFailed, R>
  /** The document `id` does not exist. */
  readonly thenMissing: <A, I>(
    collection: DocumentStore.Collection<A, I>,
    id: string
  ) => Effect.Effect<void, ExpectationFailed, R>
  /**
   * Handling one of the events fails. With a value, the error must deep-equal it; with a function,
   * it must not return `false` nor throw.
   */
  readonly thenFails: (expected?: X | ((error: X) => boolean | void)) => Effect.Effect<void, ExpectationFailed, R>
}

/**
 * The scenarios of one projection.
 *
 * @category models
 * @since 0.1.0
 */
export interface ProjectionSpec<E, X, R> {
  /** The history: appends in order (their events reach the projection in that order). */
  readonly given: (appends: ReadonlyArray<GivenAppend<E>>) => Then<X, R>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ProjectionSpecOptions {
  /** The store each scenario runs on, built afresh per scenario; default `TestStore.memory()`. */
  readonly store?: TestStore | undefined
}

/**
 * A projection: a per-event handler, or a consumer's `{ filter, handler }` (such as
 * `Aggregate.consumer(...)`), whose filter selects the events it is given, as in a consumer.
 *
 * @category models
 * @since 0.1.0
 */
export type Projection<X, R> =
  | ((event: Event.RecordedEvent) => Effect.Effect<void, X, R>)
  | {
    readonly handler: (event: Event.RecordedEvent) => Effect.Effect<void, X, R>
    readonly filter?: EventStore.EventFilter | undefined
  }

type Services<R> = Exclude<R, EventStore.EventStore | DocumentStore.DocumentStore>

/**
 * The scenarios of a projection. With `codec`, the history is typed events that the codec
 * encodes; without, it is raw `Event.NewEvent`s.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: {
  <X, R, E extends { readonly _tag: string }>(
    projection: Projection<X, R>,
    options: ProjectionSpecOptions & { readonly codec: EventCodec.EventCodec<E> }
  ): ProjectionSpec<E, X, Services<R>>
  <X, R>(
    projection: Projection<X, R>,
    options?: ProjectionSpecOptions
  ): ProjectionSpec<Event.NewEvent, X, Services<R>>
} = <X, R>(
  projection: Projection<X, R>,
  options?: ProjectionSpecOptions & { readonly codec?: EventCodec.EventCodec<any> | undefined }
): ProjectionSpec<any, X, Services<R>> => ({
  given: (appends) => {
    const { filter, handler } = typeof projection === "function"
      ? { handler: projection, filter: undefined }
      : projection
    const scenario = <A>(
      check: (handled: Result.Result<void, X>) => Effect.Effect<A, ExpectationFailed, DocumentStore.DocumentStore>
    ): Effect.Effect<A, ExpectationFailed, Services<R>> =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        for (const { events, stream } of appends) {
          yield* (options?.codec === undefined ? store.append(stream, events) : options.codec.append(stream, events))
            .pipe(unexpected(`appending the given events to ${stream}`))
        }
        const recorded = yield* Stream.runCollect(store.readAll({ filter })).pipe(
          unexpected("reading the given events back")
        )
        const handled = yield* Effect.result(
          Effect.forEach(recorded, (event) => Event.causedBy(handler(event), event), { discard: true })
        )
        return yield* check(handled as Result.Result<void, X>)
      }).pipe(
        Effect.provide(options?.store ?? memory()),
        unexpected("the projection scenario")
      ) as Effect.Effect<A, ExpectationFailed, Services<R>>

    const handledAll = (handled: Result.Result<void, X>): Effect.Effect<void, ExpectationFailed> =>
      Result.isSuccess(handled) ? Effect.void : Effect.fail(
        new ExpectationFailed({
          message: `the projection failed on a given event: ${show(handled.failure)}`,
          cause: handled.failure
        })
      )

    return {
      then: (collection, documents) =>
        scenario((handled) =>
          Effect.gen(function*() {
            yield* handledAll(handled)
            const docs = yield* DocumentStore.DocumentStore
            const stored = yield* Stream.runCollect(docs.find(collection)).pipe(unexpected("reading the documents"))
            const byId = (a: { readonly id: string }, b: { readonly id: string }) =>
              a.id < b.id ? -1 : a.id > b.id ? 1 : 0
            yield* equal(
              `the documents of ${collection.name}`,
              [...documents].map(({ id, value }) => ({ id, value })).sort(byId),
              stored.map(({ id, value }) => ({ id, value })).sort(byId)
            )
          })
        ),
      thenDocument: (collection, id, value) =>
        scenario((handled) =>
          Effect.gen(function*() {
            yield* handledAll(handled)
            const docs = yield* DocumentStore.DocumentStore
            const found = yield* docs.get(collection, id).pipe(unexpected("reading the document"))
            if (Option.isNone(found)) {
              return yield* new ExpectationFailed({
                message: `the document ${collection.name}/${id} does not exist; expected ${show(value)}`,
                expected: value,
                actual: undefined
              })
            }
            yield* equal(`the document ${collection.name}/${id}`, value, found.value.value)
          })
        ),
      thenMissing: (collection, id) =>
        scenario((handled) =>
          Effect.gen(function*() {
            yield* handledAll(handled)
            const docs = yield* DocumentStore.DocumentStore
            const found = yield* docs.get(collection, id).pipe(unexpected("reading the document"))
            if (Option.isSome(found)) {
              return yield* new ExpectationFailed({
                message: `the document ${collection.name}/${id} exists: ${show(found.value.value)}`
              })
            }
          })
        ),
      thenFails: (expected) =>
        scenario((handled) =>
          Effect.gen(function*() {
            if (Result.isSuccess(handled)) {
              return yield* new ExpectationFailed({
                message: "expected the projection to fail, but it handled every event"
              })
            }
            const error = handled.failure
            if (expected === undefined) return
            if (typeof expected !== "function") return yield* equal("the error", expected, error)
            const verdict = yield* Effect.try({
              try: () => (expected as (error: X) => boolean | void)(error),
              catch: (thrown) => fromThrown(thrown, error)
            })
            if (verdict === false) {
              return yield* new ExpectationFailed({ message: `the error did not pass the check: ${show(error)}` })
            }
          })
        )
    }
  }
})
