/**
 * Mistakes in what was typed that the flag parser cannot see (a `--from` that is neither a keyword
 * nor a number), and the checks that fail a command on purpose (`migrate --check`,
 * a failed copy verification): one line, exit status 1.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

/**
 * A command that cannot do what was asked; the message says what to do instead.
 *
 * @category errors
 * @since 0.1.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/**
 * A check the command was asked to make did not pass (`migrate --check`, a copy's verification).
 *
 * @category errors
 * @since 0.1.0
 */
export class CheckFailed extends Data.TaggedError("CheckFailed")<{ readonly message: string }> {}

/**
 * A position or version typed on the command line: a whole number.
 *
 * @category parsing
 * @since 0.1.0
 */
export const wholeNumber = (flag: string, text: string): Effect.Effect<bigint, UsageError> =>
  /^(0|[1-9][0-9]*)$/.test(text)
    ? Effect.succeed(BigInt(text))
    : Effect.fail(new UsageError({ message: `${flag} must be a whole number, got ${JSON.stringify(text)}` }))

/**
 * A comma-separated list flag (`--type A,B`), empty entries dropped.
 *
 * @category parsing
 * @since 0.1.0
 */
export const list = (text: string | undefined): ReadonlyArray<string> | undefined => {
  if (text === undefined) return undefined
  const items = text.split(",").map((item) => item.trim()).filter((item) => item !== "")
  return items.length === 0 ? undefined : items
}
