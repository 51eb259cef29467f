/**
 * The filter flags of `export` and `copy`, and the total a progress bar can expect from them.
 *
 * @since 0.1.0
 */
import type { EventStore, StoreAdmin } from "@strata/core"
import { Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { list } from "../Usage.ts"

/**
 * `--type`, `--category`, `--stream-prefix` (each comma-separated).
 *
 * @category flags
 * @since 0.1.0
 */
export const flags = {
  type: Flag.String("type").pipe(Flag.withDescription("only these event types (comma-separated)"), Flag.optional),
  category: Flag.String("category").pipe(
    Flag.withDescription("only streams of these categories (comma-separated)"),
    Flag.optional
  ),
  streamPrefix: Flag.String("stream-prefix").pipe(
    Flag.withDescription("only streams whose name starts with one of these (comma-separated)"),
    Flag.optional
  )
}

/**
 * The EventFilter the flags describe, or undefined for everything.
 *
 * @category parsing
 * @since 0.1.0
 */
export const toFilter = (options: {
  readonly type: Option.Option<string>
  readonly category: Option.Option<string>
  readonly streamPrefix: Option.Option<string>
}): EventStore.EventFilter | undefined => {
  const types = list(Option.getOrUndefined(options.type))
  const categories = list(Option.getOrUndefined(options.category))
  const streamPrefixes = list(Option.getOrUndefined(options.streamPrefix))
  return types === undefined && categories === undefined && streamPrefixes === undefined
    ? undefined
    : { types, categories, streamPrefixes }
}

/**
 * How many events the filter selects, when the statistics can tell without reading them (for the
 * progress bar's total and ETA); undefined otherwise or when statistics are unavailable.
 *
 * @category parsing
 * @since 0.1.0
 */
export const expected = (
  admin: StoreAdmin.StoreAdminShape,
  filter: EventStore.EventFilter | undefined
): Effect.Effect<number | undefined> =>
  admin.stats.pipe(
    Effect.map((stats) => {
      const sum = (counts: ReadonlyArray<StoreAdmin.Count>, keys: ReadonlyArray<string>) =>
        counts.filter(({ key }) => keys.includes(key)).reduce((n, { count }) => n + count, 0)
      if (filter === undefined) return stats.events
      if (filter.streamPrefixes !== undefined) return undefined
      if (filter.types !== undefined && filter.categories === undefined) return sum(stats.byType, filter.types)
      if (filter.categories !== undefined && filter.types === undefined) return sum(stats.byCategory, filter.categories)
      return undefined
    }),
    Effect.orElseSucceed(() => undefined)
  )
