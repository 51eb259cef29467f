/**
 * `sqlite:` store URLs: `sqlite:./app.db` (relative to the working directory), `sqlite:/var/lib/app.db`,
 * `sqlite:///var/lib/app.db` (the same absolute path) and `sqlite::memory:` (a private in-memory
 * database). `@strata/strata`'s `layerFromUrl` loads this module only for `sqlite:` URLs.
 *
 * @since 0.1.0
 */
import type { DocumentStore, EventStore, Lease, StoreAdmin } from "@strata/core"
import { type StoreError, StoreUrl } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqliteClient from "./SqliteClient.ts"
import * as SqliteStore from "./SqliteStore.ts"

/**
 * The forms {@link parse} accepts, as error messages list them.
 *
 * @category parsing
 * @since 0.1.0
 */
export const accepted: ReadonlyArray<string> = ["sqlite:./file.db", "sqlite:/absolute/file.db", "sqlite::memory:"]

const malformed = (detail: string) =>
  new StoreUrl.StoreUrlError({ reason: "Malformed", scheme: "sqlite", detail, accepted: [...accepted] })

/**
 * The client configuration a `sqlite:` URL names.
 *
 * @example
 * import { SqliteUrl } from "@strata/sqlite"
 * import * as Redacted from "effect/Redacted"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
 *
 * SqliteUrl.parse(Redacted.make("sqlite:./app.db")) // Effect succeeding with { filename: "./app.db" }
 *
 * @category parsing
 * @since 0.1.0
 */
export const parse = (
  url: Redacted.Redacted<string>
): Effect.Effect<SqliteClient.SqliteClientConfig, StoreUrl.StoreUrlError> => {
  if (StoreUrl.scheme(url) !== "sqlite") return Effect.fail(malformed("the URL does not start with sqlite:"))
  const rest = Redacted.value(url).slice("sqlite:".length)
  if (rest === ":memory:") return Effect.succeed({ filename: ":memory:" })
  // `sqlite://host/...` would name a host; only the empty host of `sqlite:///abs` means a local path.
  if (rest.startsWith("//") && !rest.startsWith("///")) {
    return Effect.fail(malformed("sqlite: URLs name a local file, not a host (write sqlite:./file.db)"))
  }
  const filename = rest.startsWith("///") ? rest.slice(2) : rest
  if (filename === "") return Effect.fail(malformed("the URL names no file"))
  if (/[?#]/.test(filename)) return Effect.fail(malformed("sqlite: URLs take no query or fragment"))
  return Effect.succeed({ filename })
}

/**
 * Both stores on the SQLite database a `sqlite:` URL names, with the given store options.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  url: Redacted.Redacted<string>,
  options: SqliteStore.SqliteStoreOptions = {}
): Layer.Layer<
  | EventStore.EventStore
  | DocumentStore.DocumentStore
  | StoreAdmin.StoreAdmin
  | Lease.LeaseStore
  | SqliteClient.SqliteClient
  | SqlClient.SqlClient,
  StoreError.StartupFailed | StoreUrl.StoreUrlError
> => Layer.unwrap(Effect.map(parse(url), (client) => SqliteStore.layer({ ...client, ...options })))
