/**
 * Given / when / then for an aggregate definition (`Aggregate.make`): given the events already in
 * an instance's stream, when a command is decided, then these events are appended, or the command
 * fails, or nothing happens. Each scenario runs on a fresh store (memory by default, or SQLite
 * `:memory:`), through the aggregate's real `decide`: the codec encodes, the store appends with the
 * expected version, and the events are read back decoded.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { Aggregate, EventCodec } from "@strata/core"
 * import { DeciderSpec, TestStore } from "@strata/testing"
 * import { Data, Effect, Schema } from "effect"
 *
 * const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Number }) })
 * const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Number }) })
 * class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly balance: number }> {}
 *
 * const Account = Aggregate.make({
 *   category: "account",
 *   codec: EventCodec.make([Deposited, Withdrawn]),
 *   initial: { balance: 0 },
 *   evolve: (state, event) => ({ balance: state.balance + (event._tag === "Deposited" ? event.amount : -event.amount) }),
 *   decide: (command: { readonly _tag: "Withdraw"; readonly amount: number }, state) =>
 *     state.balance >= command.amount
 *       ? Effect.succeed([Withdrawn.make({ amount: command.amount })])
 *       : Effect.fail(new InsufficientFunds({ balance: state.balance }))
 * })
 *
 * const spec = DeciderSpec.make(Account) // memory
 * const onSqlite = DeciderSpec.make(Account, { store: TestStore.sqlite() })
 *
 * it.effect("withdraws what is there", () =>
 *   spec.given([Deposited.make({ amount: 50 })])
 *     .when({ _tag: "Withdraw", amount: 30 })
 *     .then([Withdrawn.make({ amount: 30 })]))
 *
 * it.effect("refuses an overdraft", () =>
 *   spec.given([]).when({ _tag: "Withdraw", amount: 30 }).thenFails(new InsufficientFunds({ balance: 0 })))
 * ```
 *
 * @since 0.1.0
 */
import type { Aggregate, DocumentStore } from "@strata/core"
import { EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { equal, ExpectationFailed, fromThrown, show, unexpected } from "./Expectation.ts"
import { memory, type TestStore } from "./TestStore.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface DeciderSpecOptions {
  /** The store each scenario runs on, built afresh per scenario; default `TestStore.memory()`. */
  readonly store?: TestStore | undefined
  /** The instance id the scenarios decide on; default `"test"`. */
  readonly id?: string | undefined
}

/**
 * What a failure check receives: the decision's own error or a store error.
 *
 * @category models
 * @since 0.1.0
 */
export type Failure<X> = X | Aggregate.DecideError

/**
 * The outcome checks of one scenario. Each returns an Effect that runs the whole scenario on a new
 * store and fails with `ExpectationFailed` when the outcome differs.
 *
 * @category models
 * @since 0.1.0
 */
export interface Then<S, E, X, R> {
  /**
   * The command succeeds and appends exactly `events`, in order (compared with the decided events
   * and with the events read back from the stream).
   */
  readonly then: (events: ReadonlyArray<E>) => Effect.Effect<void, ExpectationFailed, R>
  /** The command succeeds and appends nothing. */
  readonly thenNothing: () => Effect.Effect<void, ExpectationFailed, R>
  /**
   * The command fails and appends nothing. With a value, the error must deep-equal it; with a
   * function, it must not return `false` nor throw (an assertion may throw).
   */
  readonly thenFails: (
    expected?: Failure<X> | ((error: Failure<X>) => boolean | void)
  ) => Effect.Effect<void, ExpectationFailed, R>
  /** The command succeeds and the state after it deep-equals `state`. */
  readonly thenState: (state: S) => Effect.Effect<void, ExpectationFailed, R>
}

/**
 * A scenario's history, waiting for its command.
 *
 * @category models
 * @since 0.1.0
 */
export interface Given<S, E, C, X, R> {
  readonly when: (command: C) => Then<S, E, X, R>
}

/**
 * The scenarios of one aggregate.
 *
 * @category models
 * @since 0.1.0
 */
export interface DeciderSpec<S, E, C, X, R> {
  /** The events already in the instance's stream (none: a new instance). */
  readonly given: (events?: ReadonlyArray<E>) => Given<S, E, C, X, R>
}

type Services<R> = Exclude<R, EventStore.EventStore | DocumentStore.DocumentStore>

/**
 * The scenarios of an aggregate definition.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <S, E extends { readonly _tag: string }, C, X, R>(
  aggregate: Aggregate.Aggregate<S, E, C, X, R>,
  options?: DeciderSpecOptions
): DeciderSpec<S, E, C, X, Services<R>> => {
  const id = options?.id ?? "test"
  const stream = aggregate.streamName(id)
  const given = (history: ReadonlyArray<E> = []): Given<S, E, C, X, Services<R>> => ({
    when: (command) => {
      // Runs the scenario: the history, the command, and what the stream holds after it.
      const scenario = <A>(
        check: (
          outcome: Result.Result<Aggregate.Decided<S, E>, Failure<X>>,
          appended: ReadonlyArray<E>
        ) => Effect.Effect<A, ExpectationFailed>
      ): Effect.Effect<A, ExpectationFailed, Services<R>> =>
        Effect.gen(function*() {
          if (history.length > 0) {
            yield* aggregate.codec.append(stream, history).pipe(unexpected("appending the given events"))
          }
          const outcome = yield* Effect.result(aggregate.decide(id, command))
          const stored = yield* Stream.runCollect(aggregate.codec.read(stream, { from: BigInt(history.length) })).pipe(
            unexpected("reading the stream back")
          )
          return yield* check(outcome, stored.map((decoded) => decoded.event))
        }).pipe(
          Effect.provide(options?.store ?? memory()),
          unexpected(`the scenario on ${stream}`)
        ) as Effect.Effect<A, ExpectationFailed, Services<R>>

      const succeeded = (
        outcome: Result.Result<Aggregate.Decided<S, E>, Failure<X>>,
        expecting: string
      ): Effect.Effect<Aggregate.Decided<S, E>, ExpectationFailed> =>
        Result.isSuccess(outcome)
          ? Effect.succeed(outcome.success)
          : Effect.fail(
            new ExpectationFailed({
              message: `expected ${expecting}, but the command failed with ${show(outcome.failure)}`,
              cause: outcome.failure
            })
          )

      return {
        then: (events) =>
          scenario((outcome, appended) =>
            Effect.gen(function*() {
              const decided = yield* succeeded(outcome, `the events ${show(events)}`)
              yield* equal("the events the command decided", events, decided.events)
              yield* equal("the events appended to the stream", events, appended)
            })
          ),
        thenNothing: () =>
          scenario((outcome, appended) =>
            Effect.gen(function*() {
              const decided = yield* succeeded(outcome, "no events")
              yield* equal("the events the command decided", [], decided.events)
              yield* equal("the events appended to the stream", [], appended)
            })
          ),
        thenState: (state) =>
          scenario((outcome) =>
            Effect.flatMap(
              succeeded(outcome, `the state ${show(state)}`),
              (decided) => equal("the state after the command", state, decided.state)
            )
          ),
        thenFails: (expected) =>
          scenario((outcome, appended) =>
            Effect.gen(function*() {
              if (Result.isSuccess(outcome)) {
                return yield* new ExpectationFailed({
                  message: `expected the command to fail, but it appended ${show(outcome.success.events)}`,
                  expected,
                  actual: outcome.success.events
                })
              }
              yield* equal("the events appended by a failed command", [], appended)
              if (expected === undefined) return
              if (typeof expected !== "function") return yield* equal("the error", expected, outcome.failure)
              yield* Effect.try({
                try: () => (expected as (error: Failure<X>) => boolean | void)(outcome.failure),
                catch: (thrown) => fromThrown(thrown, outcome.failure)
              }).pipe(Effect.flatMap((verdict) =>
                verdict === false
                  ? Effect.fail(
                    new ExpectationFailed({ message: `the error did not pass the check: ${show(outcome.failure)}` })
                  )
                  : Effect.void
              ))
            })
          )
      }
    }
  })
  return { given }
}
