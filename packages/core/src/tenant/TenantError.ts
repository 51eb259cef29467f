/**
 * Tenant ids, the one rule they follow, and the error every tenant operation fails with.
 *
 * A tenant id ends up in file names (`sqlite:./tenants/{tenant}.db`), database and schema names,
 * URLs, log lines and metric attributes, so the rule is strict enough for all of them: 1 to 48
 * lowercase letters, digits, `-` and `_`, starting with a letter or digit. Lowercase because
 * PostgreSQL folds unquoted names and some file systems ignore case (`Acme` and `acme` would share a
 * file); 48 so a prefix still fits PostgreSQL's 63-byte names.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * Why a tenant operation failed:
 * - `Invalid`: the id breaks the rule (see the module documentation); nothing was opened.
 * - `Unknown`: the resolver knows no such tenant.
 * - `Unavailable`: the tenant's store could not be opened (its database is down, its migrations
 *   failed): retrying may succeed.
 * - `Busy`: every one of the `maxOpen` open stores is in use, so no other tenant's can open now:
 *   retrying may succeed once one is released.
 * - `Misconfigured`: the resolver itself is wrong (a pool without members or with two members of
 *   one key, a map with a key that is not a tenant id): fix its configuration.
 *
 * @category errors
 * @since 0.1.0
 */
export const TenantErrorReason = Schema.Literals(["Invalid", "Unknown", "Unavailable", "Busy", "Misconfigured"])

/**
 * A tenant operation failed; `reason` says why and `detail` what to do. `tenant` is the id as given
 * (JSON-quoted and cut at 64 characters when `Invalid`, so a hostile id cannot forge log lines).
 *
 * @category errors
 * @since 0.1.0
 */
export class TenantError extends Schema.TaggedError<TenantError>("@strata/core/tenant/TenantError")("TenantError", {
  reason: TenantErrorReason,
  tenant: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  /** `Unavailable` and `Busy` may pass; the others are decisions of the caller's code or config. */
  get isRetryable(): boolean {
    return this.reason === "Unavailable" || this.reason === "Busy"
  }
  override get message(): string {
    return `tenant ${this.tenant}: ${this.detail}`
  }
}

/**
 * The rule a tenant id follows, in words (as `TenantError` states it).
 *
 * @category constants
 * @since 0.1.0
 */
export const rule = "a tenant id is 1 to 48 lowercase letters, digits, \"-\" and \"_\", starting with a letter or digit"

const pattern = /^[a-z0-9][a-z0-9_-]{0,47}$/

/**
 * Whether `tenant` follows the rule.
 *
 * @category guards
 * @since 0.1.0
 */
export const isTenantId = (tenant: unknown): tenant is string => typeof tenant === "string" && pattern.test(tenant)

/**
 * A tenant id as error messages and logs show it: JSON-quoted and cut at 64 characters, so a
 * hostile id cannot forge a log line.
 *
 * @category formatting
 * @since 0.1.0
 */
export const quoted = (tenant: unknown): string => {
  const text = typeof tenant === "string" ? tenant : String(tenant)
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text)
}

/**
 * Checks a tenant id: the id itself, or `TenantError` (`Invalid`) naming the rule.
 *
 * @example
 * ```ts
 * import { TenantError } from "@strata/core"
 *
 * TenantError.validate("acme") // succeeds with "acme"
 * TenantError.validate("../etc") // fails: TenantError (Invalid)
 * ```
 *
 * @category validation
 * @since 0.1.0
 */
export const validate = (tenant: string): Effect.Effect<string, TenantError> =>
  isTenantId(tenant)
    ? Effect.succeed(tenant)
    : Effect.fail(new TenantError({ reason: "Invalid", tenant: quoted(tenant), detail: `refused: ${rule}` }))
