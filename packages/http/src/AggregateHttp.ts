/**
 * An `Aggregate` over HTTP with Effect's `HttpRouter`: a command endpoint per command and a read of
 * the current state, with the stream's version as the ETag.
 *
 * - {@link command}: decodes the JSON body into a command, reads `If-Match` / `If-None-Match` as the
 *   expected version (`Preconditions`), runs `Aggregate.decide` and answers 200 with the new version as
 *   the ETag. A stale `If-Match` is 412 and is never retried: the caller decided on what it read, and
 *   someone changed it since. Without a precondition a concurrent write is decided again (the
 *   aggregate's schedule) and 409 once it gives up. The aggregate's rejections (its decision's typed
 *   errors) are 422, named by their tag, or what `rejection` says; store errors as `Problem` maps them.
 * - {@link state}: folds the instance and answers 200 with its state and ETag, 304 to an
 *   `If-None-Match` that names the current version, 404 for an instance without events.
 * - {@link layer}: both, as routes of an `HttpRouter` under one path.
 *
 * @example
 * ```ts
 * import type { Aggregate } from "@strata/core"
 * import { AggregateHttp } from "@strata/http"
 * import { Schema } from "effect"
 *
 * type AccountEvent =
 *   | { readonly _tag: "Deposited"; readonly amount: number }
 *   | { readonly _tag: "Withdrawn"; readonly amount: number }
 * type AccountCommand =
 *   | { readonly _tag: "Deposit"; readonly amount: number }
 *   | { readonly _tag: "Withdraw"; readonly amount: number }
 * declare const Account: Aggregate.Aggregate<{ readonly balance: number }, AccountEvent, AccountCommand>
 * const Amount = Schema.Struct({ amount: Schema.Finite })
 *
 * // GET /accounts/:id, POST /accounts/:id/deposit, POST /accounts/:id/withdraw
 * const AccountRoutes = AggregateHttp.layer(Account, {
 *   path: "/accounts/:id",
 *   commands: {
 *     // Annotate the command type: a literal `_tag` widens to string otherwise.
 *     deposit: { body: Amount, command: ({ amount }): AccountCommand => ({ _tag: "Deposit", amount }) },
 *     withdraw: { body: Amount, command: ({ amount }): AccountCommand => ({ _tag: "Withdraw", amount }) }
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { Aggregate, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Schema from "effect/Schema"
import * as Preconditions from "./Preconditions.ts"
import * as Problem from "./Problem.ts"

/**
 * How one command endpoint reads its request and answers.
 *
 * @category models
 * @since 0.1.0
 */
export interface CommandOptions<S, E extends { readonly _tag: string }, C, X, B = C> {
  /** Decodes the JSON body. A body that is not JSON is 400; one the schema refuses is 422 with the issue. */
  readonly body: Schema.Codec<B, any, never, never>
  /** The command from the decoded body (default: the body itself). */
  readonly command?: ((body: B, id: string) => NoInfer<C>) | undefined
  /** The path parameter that names the instance (default `id`). */
  readonly param?: string | undefined
  /**
   * `required`: a request without `If-Match` or `If-None-Match: *` is 428 (default `optional`: without
   * one, a concurrent write is decided again on the fresh state).
   */
  readonly precondition?: "optional" | "required" | undefined
  /**
   * The problem for one of the aggregate's rejections (default: 422, typed by its `_tag`, with its
   * message as the detail and no other field: map a rejection yourself to show its fields).
   */
  readonly rejection?: ((error: NoInfer<X>, id: string) => Problem.HttpProblem) | undefined
  /**
   * The JSON body of a success (default `{ id, version, position, events }`, the appended events' tags,
   * versions and positions as decimal strings).
   */
  readonly respond?: ((decided: Aggregate.Decided<S, E>, id: string) => unknown) | undefined
}

/**
 * How {@link state} answers.
 *
 * @category models
 * @since 0.1.0
 */
export interface StateOptions<S> {
  /** The path parameter that names the instance (default `id`). */
  readonly param?: string | undefined
  /** The JSON body for a state (default: the state as it is, which must then be plain JSON). */
  readonly encode?: ((state: S, loaded: Aggregate.Loaded<S>) => unknown) | undefined
}

const defaultRejection = (error: unknown): Problem.HttpProblem => {
  const tag = typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : "Rejected"
  const message = error instanceof Error && error.message !== "" ? error.message : `the command was rejected: ${tag}`
  return Problem.make(422, tag, message)
}

const decimal = (value: bigint | undefined) => value === undefined ? null : value.toString()

const instanceId = (param: string) =>
  Effect.flatMap(HttpRouter.params, (params) => {
    const id = params[param]
    return id === undefined || id === ""
      ? Effect.fail(Problem.make(404, "NotFound", `the path names no ${param}`))
      : Effect.succeed(id)
  })

const decodeBody = <B>(schema: Schema.Codec<B, any, never, never>) =>
  HttpServerRequest.schemaBodyJson(schema).pipe(
    Effect.catchTags({
      SchemaError: (error) => Effect.fail(Problem.make(422, "InvalidBody", error.message)),
      HttpServerError: () => Effect.fail(Problem.make(400, "MalformedBody", "the request body is not JSON"))
    })
  )

const withEtag = (response: HttpServerResponse.HttpServerResponse, version: bigint | undefined) =>
  version === undefined ? response : HttpServerResponse.setHeader(response, "etag", Preconditions.etag(version))

/**
 * A command endpoint for `aggregate` (see the module documentation): the handler for an
 * `HttpRouter` route whose path has the instance parameter.
 *
 * @example
 * ```ts
 * import type { Aggregate } from "@strata/core"
 * import { AggregateHttp } from "@strata/http"
 * import { HttpRouter } from "effect/http"
 * import { Schema } from "effect"
 *
 * type AccountEvent =
 *   | { readonly _tag: "Deposited"; readonly amount: number }
 *   | { readonly _tag: "Withdrawn"; readonly amount: number }
 * type AccountCommand =
 *   | { readonly _tag: "Deposit"; readonly amount: number }
 *   | { readonly _tag: "Withdraw"; readonly amount: number }
 * declare const Account: Aggregate.Aggregate<{ readonly balance: number }, AccountEvent, AccountCommand>
 *
 * const Withdraw = HttpRouter.add(
 *   "POST",
 *   "/accounts/:id/withdraw",
 *   AggregateHttp.command(Account, {
 *     body: Schema.Struct({ amount: Schema.Finite }),
 *     command: ({ amount }) => ({ _tag: "Withdraw" as const, amount }),
 *     precondition: "required"
 *   })
 * )
 * ```
 *
 * @category handlers
 * @since 0.1.0
 */
export const command = <S, E extends { readonly _tag: string }, C, X, R, B = C>(
  aggregate: Aggregate.Aggregate<S, E, C, X, R>,
  options: CommandOptions<S, E, C, X, B>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  R | EventStore.EventStore | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext
> =>
  Effect.gen(function*() {
    const id = yield* instanceId(options.param ?? "id")
    const expected = yield* Preconditions.read({ required: options.precondition === "required" })
    const body = yield* decodeBody(options.body)
    const command = options.command === undefined ? body as unknown as C : options.command(body, id)
    const decided = yield* aggregate.decide(id, command, { expected }).pipe(
      Effect.mapError((error) =>
        Problem.isStoreError(error)
          ? Problem.fromStoreError(error, { conditional: expected !== undefined })
          : (options.rejection ?? defaultRejection)(error as X, id)
      )
    )
    const json = options.respond === undefined
      ? {
        id,
        version: decimal(decided.version),
        position: decimal(decided.position),
        events: decided.events.map((event) => event._tag)
      }
      : options.respond(decided, id)
    return withEtag(yield* HttpServerResponse.json(json), decided.version)
  }).pipe(
    Problem.respond(),
    Effect.withSpan("AggregateHttp.command", { attributes: { "strata.aggregate": aggregate.category } })
  )

/**
 * The current state of an instance of `aggregate` (see the module documentation): the handler for an
 * `HttpRouter` GET route whose path has the instance parameter.
 *
 * @category handlers
 * @since 0.1.0
 */
export const state = <S, E extends { readonly _tag: string }, C, X, R>(
  aggregate: Aggregate.Aggregate<S, E, C, X, R>,
  options: StateOptions<S> = {}
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  EventStore.EventStore | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext
> =>
  Effect.gen(function*() {
    const id = yield* instanceId(options.param ?? "id")
    const request = yield* HttpServerRequest.HttpServerRequest
    const loaded = yield* aggregate.load(id)
    if (loaded.version === undefined) {
      return yield* Problem.make(404, "NotFound", `no ${aggregate.category} ${JSON.stringify(id)}`)
    }
    if (Preconditions.notModified(request.headers, loaded.version)) {
      return withEtag(HttpServerResponse.empty({ status: 304 }), loaded.version)
    }
    const body = options.encode === undefined ? loaded.state : options.encode(loaded.state, loaded)
    return withEtag(yield* HttpServerResponse.json(body), loaded.version)
  }).pipe(
    Problem.respond(),
    Effect.withSpan("AggregateHttp.state", { attributes: { "strata.aggregate": aggregate.category } })
  )

/**
 * What {@link layer} serves: the commands by name (`POST <path>/<name>`) and, unless `state: false`,
 * the state (`GET <path>`).
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions<S, E extends { readonly _tag: string }, C, X, Bodies extends Record<string, unknown>> {
  /** The instance's path, with its parameter: `/accounts/:id`. */
  readonly path: HttpRouter.PathInput
  /** The command endpoints by name, each with its own body. */
  readonly commands: { readonly [K in keyof Bodies]: CommandOptions<S, E, C, X, Bodies[K]> }
  readonly state?: StateOptions<S> | false | undefined
}

/**
 * The routes of an aggregate on the `HttpRouter` (see {@link LayerOptions}).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <S, E extends { readonly _tag: string }, C, X, R, Bodies extends Record<string, unknown>>(
  aggregate: Aggregate.Aggregate<S, E, C, X, R>,
  options: LayerOptions<S, E, C, X, Bodies>
) => {
  const base = options.path.endsWith("/") ? options.path.slice(0, -1) : options.path
  const routes = [
    ...Object.entries(options.commands as Record<string, CommandOptions<S, E, C, X, unknown>>).map((
      [name, commandOptions]
    ) => HttpRouter.route("POST", `${base}/${name}` as HttpRouter.PathInput, command(aggregate, commandOptions))),
    ...(options.state === false
      ? []
      : [HttpRouter.route("GET", base as HttpRouter.PathInput, state(aggregate, options.state ?? {}))])
  ]
  return HttpRouter.addAll(routes)
}
