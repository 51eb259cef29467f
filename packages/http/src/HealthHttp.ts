/**
 * `Health.check` over HTTP, for load balancers, orchestrators and people:
 *
 * | route                  | 200 when        | 503 when           | body                                  |
 * | ---------------------- | --------------- | ------------------ | ------------------------------------- |
 * | `GET <path>`           | ready           | not ready          | the whole report (`Health.toJson`)    |
 * | `GET <path>/ready`     | ready           | not ready          | `{ ready, status, problems }`         |
 * | `GET <path>/live`      | live            | not live           | `{ live, status, problems }`          |
 *
 * Point a readiness probe at `/ready` (a process whose store is away or whose schema is behind gets
 * no traffic) and a liveness probe at `/live` (restarted only when a consumer gave up). The report
 * holds no secret: names of consumers, leases and migrations, positions, and error messages (never
 * an error's cause). Still, it tells how the system is built: serve it on an internal port or behind
 * the same access rules as the rest of the API.
 *
 * @example
 * ```ts
 * import { HealthHttp } from "@strata/http"
 * import { HttpRouter } from "effect/http"
 * import { Layer } from "effect"
 *
 * declare const AccountRoutes: Layer.Layer<never, never, HttpRouter.HttpRouter> // the application's routes
 * const Routes = Layer.mergeAll(HealthHttp.layer({ path: "/health" }), AccountRoutes)
 * const Server = HttpRouter.serve(Routes)
 * ```
 *
 * @since 0.1.0
 */
import { Health } from "@strata/core"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"

/**
 * Where the routes are and how the check runs.
 *
 * @category models
 * @since 0.1.0
 */
export interface HealthHttpOptions extends Health.HealthOptions {
  /** The report's path; `/ready` and `/live` go below it (default `/health`). */
  readonly path?: HttpRouter.PathInput | undefined
}

const answer = (ok: boolean, body: unknown) =>
  HttpServerResponse.jsonUnsafe(body, {
    status: ok ? 200 : 503,
    // A probe must see the state now, never a cached answer.
    headers: { "cache-control": "no-store" }
  })

/**
 * The handler of one of the routes: the whole `report`, `ready` or `live` (see the module documentation).
 *
 * @category handlers
 * @since 0.1.0
 */
export const handler = (
  kind: "report" | "ready" | "live",
  options?: Health.HealthOptions
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Health.Requirements> =>
  Effect.map(Health.check(options), (report) => {
    switch (kind) {
      case "report":
        return answer(report.ready, Health.toJson(report))
      case "ready":
        return answer(report.ready, { ready: report.ready, status: report.status, problems: report.problems })
      case "live":
        return answer(report.live, { live: report.live, status: report.status, problems: report.problems })
    }
  })

/**
 * The three health routes on the `HttpRouter` (see the module documentation).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: HealthHttpOptions = {}) => {
  const { path = "/health", ...check } = options
  const base = (path.endsWith("/") ? path.slice(0, -1) : path) as `/${string}`
  return HttpRouter.addAll([
    HttpRouter.route("GET", base, handler("report", check)),
    HttpRouter.route("GET", `${base}/ready`, handler("ready", check)),
    HttpRouter.route("GET", `${base}/live`, handler("live", check))
  ])
}
