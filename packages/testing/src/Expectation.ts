/**
 * What a failed scenario fails with: one error that says what was expected and what happened,
 * with `expected` and `actual` for the test runner's diff.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { inspect, isDeepStrictEqual } from "node:util"

/**
 * A scenario's expectation did not hold. Carries `expected` and `actual` (vitest shows their diff)
 * and, when the scenario failed in an unexpected way, the `cause`.
 *
 * @category errors
 * @since 0.1.0
 */
export class ExpectationFailed extends Data.TaggedError("ExpectationFailed")<{
  readonly message: string
  readonly expected?: unknown
  readonly actual?: unknown
  readonly cause?: unknown
}> {
  /** Tells vitest to print a diff of `expected` and `actual`. */
  get showDiff(): boolean {
    return "expected" in this && "actual" in this
  }
}

/**
 * Shows a value in a message: nested, with bigints and class names.
 *
 * @category formatting
 * @since 0.1.0
 */
export const show = (value: unknown): string => inspect(value, { depth: 8, breakLength: 120 })

/**
 * Succeeds when `actual` deep-equals `expected` (strict: same types, same prototypes), else fails
 * with {@link ExpectationFailed} saying `what`.
 *
 * @example
 * import { Expectation } from "@strata/testing"
 *
 * const check = Expectation.equal("the balance", 70, 70)
 *
 * @category combinators
 * @since 0.1.0
 */
export const equal = (what: string, expected: unknown, actual: unknown): Effect.Effect<void, ExpectationFailed> =>
  isDeepStrictEqual(actual, expected)
    ? Effect.void
    : Effect.fail(
      new ExpectationFailed({
        message: `${what}: expected ${show(expected)}, got ${show(actual)}`,
        expected,
        actual
      })
    )

/**
 * Turns every failure of `effect` other than {@link ExpectationFailed} (a store error, a layer that
 * did not build, a decision's own error where none was expected) into one saying `what` failed.
 *
 * @category combinators
 * @since 0.1.0
 */
export const unexpected = (what: string) =>
<A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, ExpectationFailed, R> =>
  Effect.catch(effect, (error) =>
    Effect.fail(
      error instanceof ExpectationFailed
        ? error
        : new ExpectationFailed({ message: `${what} failed unexpectedly: ${describe(error)}`, cause: error })
    ))

const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : show(error)

/**
 * The failure of a check that threw (an assertion, usually): its message, and its `expected` /
 * `actual` when it has them; else `subject` (what was checked) is shown.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromThrown = (thrown: unknown, subject: unknown): ExpectationFailed => {
  const error = thrown as { readonly message?: unknown; readonly expected?: unknown; readonly actual?: unknown }
  const message = typeof error?.message === "string" ? error.message : show(thrown)
  return "expected" in Object(thrown)
    ? new ExpectationFailed({ message, expected: error.expected, actual: error.actual, cause: thrown })
    : new ExpectationFailed({ message: `${message} (checking ${show(subject)})`, cause: thrown })
}
