/**
 * Stream names: validated once at the edge, branded afterwards.
 *
 * A stream name is 1 to {@link maxLength} characters of well-formed Unicode, has no control characters
 * and does not start with `$` (reserved for system streams, as in KurrentDB). The category of a stream is the part
 * before its first `-` (`cart-42` is in category `cart`), the convention KurrentDB's `$ce-` streams
 * and most event-sourcing tools share.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Json from "./internal/json.ts"
import { InvalidStreamName } from "./StoreError.ts"

/**
 * The longest stream name accepted, in UTF-16 code units.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxLength = 256

// C0 and C1 control characters, plus the Unicode line/paragraph separators.

const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/**
 * Why a name is not a valid stream name, or undefined when it is.
 *
 * @category validation
 * @since 0.1.0
 */
export const problem = (name: unknown): string | undefined => {
  if (typeof name !== "string") return `expected a string, got ${typeof name}`
  if (name.length === 0) return "it is empty"
  if (name.length > maxLength) return `it has ${name.length} characters; the limit is ${maxLength}`
  if (controlCharacters.test(name)) return "it contains control characters"
  // SQLite and PostgreSQL store a lone surrogate as U+FFFD, so two such names would become one stream.
  if (!Json.isWellFormed(name)) return "it contains a lone surrogate (not well-formed Unicode)"
  if (name.trim() !== name) return "it has leading or trailing whitespace"
  if (name.startsWith("$")) return "names starting with '$' are reserved for system streams"
  return undefined
}

/**
 * The schema of a valid stream name.
 *
 * @category schemas
 * @since 0.1.0
 */
export const StreamName = Schema.String.pipe(
  Schema.check(Schema.makeFilter((name: string) => problem(name) ?? true)),
  Schema.brand("StreamName")
)

/**
 * @category models
 * @since 0.1.0
 */
export type StreamName = typeof StreamName.Type

/**
 * Validates a stream name, failing with a typed error that says what is wrong.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (name: string): Effect.Effect<StreamName, InvalidStreamName> => {
  const detail = problem(name)
  return detail === undefined
    ? Effect.succeed(name as StreamName)
    : Effect.fail(new InvalidStreamName({ stream: String(name), detail }))
}

/**
 * The category of a stream: the part before the first `-`, or the whole name when it has none.
 *
 * @category accessors
 * @since 0.1.0
 */
export const category = (name: string): string => {
  const dash = name.indexOf("-")
  return dash === -1 ? name : name.slice(0, dash)
}
