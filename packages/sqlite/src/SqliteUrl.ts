/**
 * `sqlite:` store URLs: `sqlite:./app.db` (relative to the working directory), `sqlite:/var/lib/app.db`,
 * `sqlite:///var/lib/app.db` (the same absolute path) and `sqlite::memory:` (a private in-memory
 * database). Two query parameters set the file's durability and checkpointing (see
 * `SqliteClientConfig`): `?synchronous=FULL` (or `NORMAL`, the default) and `?checkpoint=inline` (or
 * `background`, the default), e.g. `sqlite:./app.db?synchronous=FULL`. Anything else in a query is
 * refused. `@strata/strata`'s `layerFromUrl` loads this module only for `sqlite:` URLs.
 *
 * @since 0.1.0
 */
import { type StoreError, StoreUrl } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as SqliteClient from "./SqliteClient.ts"
import * as SqliteStore from "./SqliteStore.ts"

/**
 * The forms {@link parse} accepts, as error messages list them.
 *
 * @category parsing
 * @since 0.1.0
 */
export const accepted: ReadonlyArray<string> = [
  "sqlite:./file.db",
  "sqlite:/absolute/file.db",
  "sqlite::memory:",
  "sqlite:./file.db?synchronous=FULL&checkpoint=inline"
]

// The query parameters a file URL takes, each with the values it accepts.
const parameters = {
  synchronous: ["NORMAL", "FULL"],
  checkpoint: ["background", "inline"]
} as const

// Never echoes a value it refuses: a query is where a mistaken secret would sit.
const options = (
  query: string
): { readonly synchronous?: "NORMAL" | "FULL"; readonly checkpoint?: "background" | "inline" } | string => {
  const found: Record<string, string> = {}
  for (const [key, value] of new URLSearchParams(query)) {
    if (!Object.hasOwn(parameters, key)) {
      return `sqlite: URLs take only ${Object.keys(parameters).join(" and ")} as query parameters`
    }
    const allowed: ReadonlyArray<string> = parameters[key as keyof typeof parameters]
    if (!allowed.includes(value)) return `the ${key} parameter is one of ${allowed.join(", ")}`
    if (key in found) return `the ${key} parameter appears twice`
    found[key] = value
  }
  return found
}

const malformed = (detail: string) =>
  new StoreUrl.StoreUrlError({ reason: "Malformed", scheme: "sqlite", detail, accepted: [...accepted] })

const splitQuery = (text: string): readonly [string, string | undefined] => {
  const at = text.indexOf("?")
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)]
}

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
  // An in-memory database has no file to sync or checkpoint: its URL takes no parameters.
  if (rest === ":memory:") return Effect.succeed({ filename: ":memory:" })
  // `sqlite://host/...` would name a host; only the empty host of `sqlite:///abs` means a local path.
  if (rest.startsWith("//") && !rest.startsWith("///")) {
    return Effect.fail(malformed("sqlite: URLs name a local file, not a host (write sqlite:./file.db)"))
  }
  const [path, query] = splitQuery(rest.startsWith("///") ? rest.slice(2) : rest)
  if (path === "") return Effect.fail(malformed("the URL names no file"))
  if (path.includes("#") || query?.includes("#")) return Effect.fail(malformed("sqlite: URLs take no fragment"))
  if (query === undefined) return Effect.succeed({ filename: path })
  if (path === ":memory:") return Effect.fail(malformed("sqlite::memory: takes no parameters (it has no file)"))
  const parsed = options(query)
  return typeof parsed === "string" ? Effect.fail(malformed(parsed)) : Effect.succeed({ filename: path, ...parsed })
}

/**
 * What {@link layer} takes besides the URL: the store options, and `mustExist` (see
 * `SqliteClientConfig.mustExist`: a missing file fails the layer with `StartupFailed`, naming the
 * file, instead of becoming a new database; for tools that open an existing store).
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions extends SqliteStore.SqliteStoreOptions {
  readonly mustExist?: boolean | undefined
}

/**
 * Both stores on the SQLite database a `sqlite:` URL names, with the given store options.
 *
 * @example
 * import { SqliteUrl } from "@strata/sqlite"
 * import * as Redacted from "effect/Redacted"
 *
 * // An existing store as it is: no file created, no migration applied.
 * const existing = SqliteUrl.layer(Redacted.make("sqlite:./app.db"), { mustExist: true, migrate: false })
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  url: Redacted.Redacted<string>,
  options: LayerOptions = {}
): Layer.Layer<SqliteStore.Services, StoreError.StartupFailed | StoreError.Unsupported | StoreUrl.StoreUrlError> =>
  Layer.unwrap(Effect.map(parse(url), (client) => SqliteStore.layer({ ...client, ...options })))
