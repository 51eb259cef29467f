/**
 * Store URLs (`STRATA_URL`, `layerFromUrl`): the error every backend's URL parser fails with, and the
 * scheme split they share.
 *
 * A store URL may carry a password (`postgres://user:secret@host/db`), so parsers take it as a
 * `Redacted` and no error built here ever contains the URL: only its scheme and what is wrong.
 *
 * @since 0.1.0
 */
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * Why a store URL was refused.
 *
 * - `Malformed`: the scheme is known, the rest is not a URL of that backend.
 * - `UnknownScheme`: no backend has this scheme (or there is no scheme at all).
 * - `NotAvailable`: the scheme is reserved for a backend that is not built yet.
 * - `NotInstalled`: the backend's package could not be loaded (install it next to `@strata/strata`).
 * - `Missing`: no URL was given (`STRATA_URL` is not set).
 *
 * @category errors
 * @since 0.1.0
 */
export const StoreUrlErrorReason = Schema.Literals([
  "Malformed",
  "UnknownScheme",
  "NotAvailable",
  "NotInstalled",
  "Missing"
])

/**
 * A store URL that no backend accepts. `message` says what is wrong and lists the accepted forms;
 * it never contains the URL itself, which may hold a password.
 *
 * @category errors
 * @since 0.1.0
 */
export class StoreUrlError extends Schema.TaggedError<StoreUrlError>("@strata/core/StoreUrl/StoreUrlError")(
  "StoreUrlError",
  {
    reason: StoreUrlErrorReason,
    /** The URL's scheme, when it has one (`"postgres"`, `"sqlite"`, ...). */
    scheme: Schema.optional(Schema.String),
    /** What is wrong, in words that never quote the URL. */
    detail: Schema.String,
    /** The forms that would have been accepted. */
    accepted: Schema.Array(Schema.String),
    cause: Schema.optional(Schema.Defect())
  }
) {
  /** Configuration errors do not go away on their own. */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Invalid store URL${this.scheme === undefined ? "" : ` (${this.scheme}:)`}: ${this.detail}. Accepted: ${
      this.accepted.join(", ")
    }`
  }
}

/**
 * The lower-cased scheme of a URL (`"postgres"` for `postgres://...`), or `undefined` when it does not
 * start with one (RFC 3986: a letter, then letters, digits, `+`, `-` or `.`, then `:`).
 *
 * @example
 * import { StoreUrl } from "@strata/core"
 * import * as Redacted from "effect/Redacted"
 *
 * StoreUrl.scheme(Redacted.make("postgres://u:p@localhost/app")) // "postgres"
 * StoreUrl.scheme(Redacted.make("./app.db")) // undefined
 *
 * @category parsing
 * @since 0.1.0
 */
export const scheme = (url: Redacted.Redacted<string>): string | undefined =>
  /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(Redacted.value(url))?.[1]?.toLowerCase()
