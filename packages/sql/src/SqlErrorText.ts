/**
 * An SqlError as one text, for dialects that classify errors by their words: drivers put the
 * telling part in different places (the reason's message, the error's message, or the driver's own
 * error in `cause`), and D1 reports every database error as an `UnknownError`, so only the text says
 * which constraint failed.
 *
 * @since 0.1.0
 */
import type { SqlError } from "effect/sql/SqlError"

/**
 * The reason's message, the error's message and the cause's message (or the cause as a string),
 * joined with spaces, for pattern matching. Not for people: `Startup.describe` words a failure for
 * a reader.
 *
 * @category errors
 * @since 0.1.0
 */
export const errorText = (error: SqlError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  return `${error.reason.message ?? ""} ${error.message} ${cause instanceof Error ? cause.message : String(cause)}`
}
