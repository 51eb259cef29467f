/**
 * A stream's version as an HTTP entity tag, and conditional request headers as expected versions:
 *
 * | request header        | expected version                                  |
 * | --------------------- | ------------------------------------------------- |
 * | `If-Match: "3"`       | `ExpectedVersion.exact(3)` (the ETag a GET gave)  |
 * | `If-Match: *`         | `ExpectedVersion.streamExists`                    |
 * | `If-None-Match: *`    | `ExpectedVersion.noStream` (create only)          |
 * | neither               | none (`any`), or 428 where {@link read} requires one |
 *
 * The entity tag of a stream at version `n` is `"n"` (strong; a weak `W/"n"` is read the same). A
 * header that is not one of these (two tags, a tag that is not a version, both headers at once) is a
 * 400 problem: guessing what a malformed precondition meant could overwrite someone's work.
 *
 * @example
 * import { Preconditions } from "@strata/http"
 *
 * Preconditions.etag(3n) // '"3"'
 * Preconditions.fromHeaders({ "if-match": '"3"' }) // Result.succeed(ExpectedVersion.exact(3))
 *
 * @since 0.1.0
 */
import { ExpectedVersion } from "@strata/core"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Result from "effect/Result"
import { type HttpProblem, make } from "./Problem.ts"

/**
 * The entity tag of a stream at `version`: `"<version>"`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const etag = (version: bigint): string => `"${version}"`

const tagPattern = /^(?:W\/)?"(0|[1-9][0-9]{0,18})"$/

/**
 * The version an entity tag names (`"3"` or `W/"3"`); undefined for any other tag.
 *
 * @category conversions
 * @since 0.1.0
 */
export const parseEtag = (tag: string): bigint | undefined => {
  const match = tagPattern.exec(tag.trim())
  return match === null ? undefined : BigInt(match[1]!)
}

/**
 * How to read preconditions.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReadOptions {
  /** A request without `If-Match` or `If-None-Match` fails with 428 Precondition Required (default false). */
  readonly required?: boolean | undefined
}

const malformed = (header: string, value: string, detail: string) =>
  make(400, "MalformedPrecondition", `${header}: ${JSON.stringify(value)} ${detail}`, { header })

/**
 * The expected version the headers ask for (header names in lower case, as Effect's `Headers` keeps
 * them); undefined when they ask for none.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  options?: ReadOptions
): Result.Result<ExpectedVersion.ExpectedVersion | undefined, HttpProblem> => {
  const ifMatch = headers["if-match"]?.trim()
  const ifNoneMatch = headers["if-none-match"]?.trim()
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    return Result.fail(
      make(400, "MalformedPrecondition", "send If-Match (update) or If-None-Match: * (create), not both", {
        header: "if-match"
      })
    )
  }
  if (ifMatch !== undefined) {
    if (ifMatch === "*") return Result.succeed(ExpectedVersion.streamExists)
    const version = parseEtag(ifMatch)
    return version === undefined
      ? Result.fail(malformed("If-Match", ifMatch, "is not one stream version's ETag (such as \"3\") or *"))
      : Result.succeed(ExpectedVersion.exact(version))
  }
  if (ifNoneMatch !== undefined) {
    return ifNoneMatch === "*"
      ? Result.succeed(ExpectedVersion.noStream)
      : Result.fail(malformed("If-None-Match", ifNoneMatch, "on a write can only be * (create when absent)"))
  }
  return options?.required === true
    ? Result.fail(
      make(
        428,
        "PreconditionRequired",
        "this resource is written with a precondition: send If-Match with the ETag you read, or If-None-Match: * to create it"
      )
    )
    : Result.succeed(undefined)
}

/**
 * The expected version of the current request (see {@link fromHeaders}).
 *
 * @category accessors
 * @since 0.1.0
 */
export const read = (
  options?: ReadOptions
): Effect.Effect<ExpectedVersion.ExpectedVersion | undefined, HttpProblem, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) => Effect.fromResult(fromHeaders(request.headers, options))
  )

/**
 * Whether an `If-None-Match` header (of a GET) names the current version: answer 304 Not Modified.
 *
 * @category predicates
 * @since 0.1.0
 */
export const notModified = (
  headers: Readonly<Record<string, string | undefined>>,
  version: bigint | undefined
): boolean => {
  const header = headers["if-none-match"]
  if (header === undefined || version === undefined) return false
  return header.split(",").some((tag) => tag.trim() === "*" || parseEtag(tag) === version)
}
