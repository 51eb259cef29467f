/**
 * `kurrentdb://` URLs for `@strata/strata`'s `layerFromUrl`: the URL is the client's own connection
 * string (`kurrentdb://user:password@host:2113?tls=false`, also `kurrentdb+discover://` and
 * `esdb://`), kept `Redacted`; a server that cannot be reached at startup is `StartupFailed` naming
 * the endpoint, never the credentials.
 *
 * @since 0.1.0
 */
import { Store, StoreError, StoreUrl } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { endpointOf } from "./KurrentClient.ts"
import * as KurrentStore from "./KurrentStore.ts"

/**
 * The schemes KurrentDB's client accepts.
 *
 * @category constants
 * @since 0.1.0
 */
export const schemes: ReadonlyArray<string> = ["kurrentdb", "kurrentdb+discover", "kurrent", "esdb", "esdb+discover"]

/**
 * Both stores on the KurrentDB server a URL names.
 *
 * @example
 * ```ts
 * import { KurrentUrl } from "@strata/kurrentdb"
 * import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
 *
 * const StoreLive = KurrentUrl.layer(Redacted.make("kurrentdb://127.0.0.1:2113?tls=false"))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  url: Redacted.Redacted<string>,
  options: { readonly maxEventBytes?: number | undefined; readonly pageSize?: number | undefined } = {}
): Layer.Layer<Store.Services, StoreError.StartupFailed | StoreUrl.StoreUrlError> => {
  const scheme = StoreUrl.scheme(url)
  if (scheme === undefined || !schemes.includes(scheme)) {
    return Layer.effectDiscard(Effect.fail(
      new StoreUrl.StoreUrlError({
        reason: "Malformed",
        scheme,
        detail: `KurrentDB URLs start with ${schemes.map((s) => `${s}://`).join(", ")}`,
        accepted: ["kurrentdb://user:password@host:2113?tls=false"]
      })
    )) as never
  }
  const endpoint = endpointOf(Redacted.value(url))
  const startupFailed = (error: StoreError.StoreUnavailable) =>
    new StoreError.StartupFailed({
      backend: "kurrentdb",
      target: `kurrentdb://${endpoint}`,
      problem: error.reason,
      hint: "Check the host, the port and tls= in the URL, and that KurrentDB is running."
    })
  return Store.layerBackend(Effect.gen(function*() {
    const backend = yield* KurrentStore.make({ connectionString: url, ...options }).pipe(
      Effect.mapError(startupFailed)
    )
    // The client connects lazily: one read at startup, so a bad URL or host fails here, not at first use.
    yield* Stream.runDrain(backend.eventStore.readAll({ limit: 1 })).pipe(
      Effect.catchTag("StoreUnavailable", (error) => Effect.fail(startupFailed(error))),
      Effect.catch((error) => error._tag === "StartupFailed" ? Effect.fail(error) : Effect.void)
    )
    return backend
  })) as Layer.Layer<Store.Services, StoreError.StartupFailed>
}
