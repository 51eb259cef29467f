/**
 * The store a command works on: `--url`, or `STRATA_URL` when the flag is absent, opened through
 * `Strata.layerFromUrl` (backends load lazily: memory:, sqlite:FILE, postgres://..., kurrentdb://...).
 *
 * @since 0.1.0
 */
import { EventStore, StoreAdmin } from "@strata/core"
import { Strata } from "@strata/strata"
import { Flag } from "effect/cli"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"

/**
 * `--url URL`, falling back to `STRATA_URL`. Read as `Redacted`: never printed.
 *
 * @category flags
 * @since 0.1.0
 */
export const url = Flag.Redacted("url").pipe(
  Flag.withDescription(
    "the store: memory:, sqlite:FILE, postgres://user:password@host/db, kurrentdb://... (default: $STRATA_URL)"
  ),
  Flag.withFallbackConfig(Config.Redacted("STRATA_URL"))
)

/**
 * An open store: its EventStore and StoreAdmin.
 *
 * @category models
 * @since 0.1.0
 */
export interface Opened {
  readonly eventStore: EventStore.EventStoreShape
  readonly admin: StoreAdmin.StoreAdminShape
}

/**
 * Opens the store a URL names for the current scope. `migrate: false` leaves the schema alone
 * (`strata migrate --check`, `migrate status`); every other command applies pending migrations, as
 * a program's store layer does.
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (url: Redacted.Redacted<string>, options: { readonly migrate?: boolean | undefined } = {}) =>
  Effect.map(
    Layer.build(Strata.layerFromUrl(url, { migrate: options.migrate })),
    (context): Opened => ({
      eventStore: Context.get(context, EventStore.EventStore),
      admin: Context.get(context, StoreAdmin.StoreAdmin)
    })
  )
