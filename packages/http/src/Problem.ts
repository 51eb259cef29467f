/**
 * Strata's typed errors as HTTP problems (RFC 9457 `application/problem+json`).
 *
 * {@link fromStoreError} maps each store error to a status and a body carrying what the typed error
 * carries for the caller to act on (stream, expected and actual version, event id, ...), never its
 * `cause` (a driver error can name hosts, users and SQL):
 *
 * | error                      | status                                                         |
 * | -------------------------- | -------------------------------------------------------------- |
 * | `WrongExpectedVersion`     | 412 when the request carried a precondition, 409 otherwise     |
 * | `DuplicateEvent`           | 409                                                            |
 * | `StreamDeleted`            | 410 when tombstoned, 404 when soft-deleted                     |
 * | `InvalidEvent`, `InvalidStreamName`, `InvalidArgument` | 422                                |
 * | `Unsupported`              | 501                                                            |
 * | `StoreUnavailable`         | 503 with `Retry-After: 1`                                      |
 * | `EventDecodeError`, others | 500, with no detail (it is logged, not shown)                  |
 *
 * A precondition the request lacks where one is required is 428 and a malformed one 400 (see
 * `Preconditions`). An {@link HttpProblem} is `Respondable`: a route that fails with it answers with its
 * problem+json response, with no mapping to write.
 *
 * @since 0.1.0
 */
import type { StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import * as HttpServerRespondable from "effect/http/HttpServerRespondable"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as ProblemDetails from "effect/http/ProblemDetails"
import * as Schema from "effect/Schema"

const typeBase = "urn:strata:problem:"

/**
 * An HTTP problem: a status, a problem type, a title, a detail and extension members. Fail a route
 * with it and the route answers with `application/problem+json`.
 *
 * @example
 * import { Problem } from "@strata/http"
 *
 * const problem = Problem.make(404, "NotFound", "No account 42")
 *
 * @category errors
 * @since 0.1.0
 */
export class HttpProblem extends Schema.TaggedError<HttpProblem>("@strata/http/Problem/HttpProblem")("HttpProblem", {
  status: Schema.Number,
  /** The problem type: `urn:strata:problem:<Tag>` for Strata's errors. */
  type: Schema.String,
  title: Schema.String,
  detail: Schema.String,
  /** Extension members: what the caller can act on. Plain JSON only (bigints as decimal strings). */
  extensions: Schema.Record(Schema.String, Schema.Unknown),
  /** Extra response headers (`Retry-After`, ...). */
  headers: Schema.Record(Schema.String, Schema.String)
}) implements HttpServerRespondable.Respondable {
  override get message(): string {
    return `${this.status} ${this.title}: ${this.detail}`
  }
  /** The RFC 9457 body. */
  get body(): ProblemDetails.ProblemDetails {
    return { ...this.extensions, type: this.type, status: this.status, title: this.title, detail: this.detail }
  }
  [HttpServerRespondable.symbol]() {
    return Effect.succeed(toResponse(this))
  }
}

/**
 * A problem with a status, a tag (the type becomes `urn:strata:problem:<tag>`, the title the tag) and
 * a detail; `extensions` become members of the body.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  status: number,
  tag: string,
  detail: string,
  extensions: Record<string, unknown> = {},
  headers: Record<string, string> = {}
): HttpProblem => new HttpProblem({ status, type: `${typeBase}${tag}`, title: tag, detail, extensions, headers })

/**
 * The problem+json response of a problem.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toResponse = (problem: HttpProblem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.setHeaders(ProblemDetails.toResponse(problem.body), problem.headers)

/**
 * Every typed error a store operation can fail with.
 *
 * @category models
 * @since 0.1.0
 */
export type AnyStoreError =
  | StoreError.WrongExpectedVersion
  | StoreError.StreamDeleted
  | StoreError.DuplicateEvent
  | StoreError.InvalidEvent
  | StoreError.InvalidStreamName
  | StoreError.InvalidArgument
  | StoreError.EventDecodeError
  | StoreError.Unsupported
  | StoreError.StoreUnavailable

const storeTags: ReadonlySet<string> = new Set([
  "WrongExpectedVersion",
  "StreamDeleted",
  "DuplicateEvent",
  "InvalidEvent",
  "InvalidStreamName",
  "InvalidArgument",
  "EventDecodeError",
  "Unsupported",
  "StoreUnavailable"
])

/**
 * True for one of Strata's store errors (by tag).
 *
 * @category guards
 * @since 0.1.0
 */
export const isStoreError = (u: unknown): u is AnyStoreError =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" && storeTags.has(u._tag)

const version = (v: bigint | undefined) => v === undefined ? null : v.toString()

/**
 * The problem for a store error (see the module documentation). `conditional`: the request carried
 * `If-Match` / `If-None-Match`, so a version conflict is its precondition failing (412), not a
 * concurrent write (409).
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromStoreError = (error: AnyStoreError, options?: { readonly conditional?: boolean }): HttpProblem => {
  switch (error._tag) {
    case "WrongExpectedVersion":
      return make(
        options?.conditional === true ? 412 : 409,
        error._tag,
        options?.conditional === true
          ? `Stream ${JSON.stringify(error.stream)} is at ${
            error.actual === undefined ? "no version" : `version ${error.actual}`
          }, not ${error.expected}: fetch it again (its ETag) and retry`
          : error.message,
        { stream: error.stream, expected: error.expected, actual: version(error.actual) }
      )
    case "DuplicateEvent":
      return make(409, error._tag, error.message, { stream: error.stream, eventId: error.eventId })
    case "StreamDeleted":
      return make(error.tombstoned ? 410 : 404, error._tag, error.message, {
        stream: error.stream,
        tombstoned: error.tombstoned
      })
    case "InvalidEvent":
      return make(422, error._tag, error.message, {
        stream: error.stream,
        reason: error.reason,
        ...(error.index === undefined ? {} : { index: error.index })
      })
    case "InvalidStreamName":
      return make(422, error._tag, error.message, { stream: error.stream })
    case "InvalidArgument":
      return make(422, error._tag, error.message, { operation: error.operation })
    case "Unsupported":
      return make(501, error._tag, error.message, { operation: error.operation, backend: error.backend })
    case "StoreUnavailable":
      // The reason is a short classification (ConnectionError, Deadlock, ...); the cause stays out.
      return make(503, error._tag, error.message, { operation: error.operation, reason: error.reason }, {
        "retry-after": "1"
      })
    case "EventDecodeError":
      return internal
  }
}

const internal = make(500, "InternalError", "The request could not be completed; the server logged why")

/**
 * The problem for any failure: an {@link HttpProblem} as it is, a store error through
 * {@link fromStoreError}, anything else 500 with no detail.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromUnknown = (error: unknown, options?: { readonly conditional?: boolean }): HttpProblem =>
  error instanceof HttpProblem ? error : isStoreError(error) ? fromStoreError(error, options) : internal

/**
 * Turns every failure of a handler into its problem response (logging the ones that answer 500 with
 * their cause, which the response never shows). Use it on routes of your own that call the store.
 *
 * @example
 * import { Problem } from "@strata/http"
 * import { EventStore } from "@strata/core"
 * import { Effect } from "effect"
 * import { HttpServerResponse } from "effect/http"
 *
 * const handler = Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const info = yield* store.streamInfo("order-1")
 *   return HttpServerResponse.jsonUnsafe({ version: String(info.lastVersion) })
 * }).pipe(Problem.respond())
 *
 * @category combinators
 * @since 0.1.0
 */
export const respond = (options?: { readonly conditional?: boolean }) =>
<E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catch(handler, (error) => {
    const problem = fromUnknown(error, options)
    return problem.status >= 500 && problem.status !== 503
      ? Effect.as(Effect.logError("strata/http: request failed", error), toResponse(problem))
      : Effect.succeed(toResponse(problem))
  })
