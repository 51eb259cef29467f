/**
 * What an append asserts about the stream before it writes.
 *
 * Versions count from 0: the first event of a stream has version 0, and `exact(n)` means "the last
 * event of the stream has version n". All four modes are enforced atomically with the write on
 * every backend.
 *
 * | mode           | passes when                                                    |
 * | -------------- | -------------------------------------------------------------- |
 * | `any`          | always (no concurrency check)                                  |
 * | `noStream`     | the stream has no events: never written, or soft-deleted       |
 * | `streamExists` | the stream has events (and is not soft-deleted)                |
 * | `exact(n)`     | the stream's last event has version n                          |
 *
 * A tombstoned stream fails every mode with `StreamDeleted`.
 *
 * **Gotchas**
 *
 * A negative `exact(n)` is an expectation no stream can meet (versions count from 0; a stream with no
 * events is `noStream`, not `exact(-1)` as in some other stores). Appends refuse it before the store is
 * asked, on every backend (`AppendPlan`, see {@link impossible}): `WrongExpectedVersion` with no
 * `actual`, since the stream was not read, and nothing is written. `deleteStream` and `tombstoneStream`
 * judge it against the stream like any other wrong version.
 *
 * @since 0.1.0
 */
import { WrongExpectedVersion } from "./StoreError.ts"
/**
 * @category models
 * @since 0.1.0
 */
export type ExpectedVersion =
  | { readonly _tag: "Any" }
  | { readonly _tag: "NoStream" }
  | { readonly _tag: "StreamExists" }
  | { readonly _tag: "Exact"; readonly version: bigint }

/**
 * No concurrency check.
 *
 * @category constructors
 * @since 0.1.0
 */
export const any: ExpectedVersion = { _tag: "Any" }

/**
 * The stream must have no events.
 *
 * @category constructors
 * @since 0.1.0
 */
export const noStream: ExpectedVersion = { _tag: "NoStream" }

/**
 * The stream must have at least one event.
 *
 * @category constructors
 * @since 0.1.0
 */
export const streamExists: ExpectedVersion = { _tag: "StreamExists" }

/**
 * The stream's last event must have exactly this version.
 *
 * @category constructors
 * @since 0.1.0
 */
export const exact = (version: bigint | number): ExpectedVersion => ({ _tag: "Exact", version: BigInt(version) })

/**
 * A short human form: `any`, `no-stream`, `stream-exists` or the version number.
 *
 * @category formatting
 * @since 0.1.0
 */
export const format = (expected: ExpectedVersion): string => {
  switch (expected._tag) {
    case "Any":
      return "any"
    case "NoStream":
      return "no-stream"
    case "StreamExists":
      return "stream-exists"
    case "Exact":
      return `version ${expected.version}`
  }
}

/**
 * The state of a stream as far as expected versions are concerned.
 *
 * `lastVersion` is the version of the last event (undefined when none was ever written); `deleted`
 * is true after a soft delete, until the next append.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamState {
  readonly lastVersion: bigint | undefined
  readonly deleted: boolean
}

/**
 * The version the stream counts as being at for conflict reports: none when it has no visible events.
 *
 * @category accessors
 * @since 0.1.0
 */
export const actualVersion = (state: StreamState): bigint | undefined => state.deleted ? undefined : state.lastVersion

/**
 * The conflict `expected` runs into whatever state the stream is in, or undefined when some state
 * could meet it: a negative exact version (versions count from 0). Appends check this before the
 * store is asked (`AppendPlan`), so every backend refuses it the same way, writing nothing and
 * reading nothing: the error has no `actual`.
 *
 * @category predicates
 * @since 0.1.0
 */
export const impossible = (
  stream: string,
  expected: ExpectedVersion | undefined
): WrongExpectedVersion | undefined =>
  expected?._tag === "Exact" && expected.version < 0n
    ? new WrongExpectedVersion({ stream, expected: format(expected) })
    : undefined

/**
 * Whether an append asserting `expected` may proceed against a stream in `state`. Every backend
 * calls this (or the same rule in SQL) so the modes mean the same everywhere.
 *
 * @category predicates
 * @since 0.1.0
 */
export const matches = (expected: ExpectedVersion, state: StreamState): boolean => {
  const actual = actualVersion(state)
  switch (expected._tag) {
    case "Any":
      return true
    case "NoStream":
      return actual === undefined
    case "StreamExists":
      return actual !== undefined
    case "Exact":
      return actual === expected.version
  }
}

/**
 * The conflict an append asserting `expected` against `state` runs into, or undefined when it may
 * proceed.
 *
 * @category predicates
 * @since 0.1.0
 */
export const check = (
  stream: string,
  expected: ExpectedVersion | undefined,
  state: StreamState
): WrongExpectedVersion | undefined => {
  const want = expected ?? any
  return matches(want, state)
    ? undefined
    : new WrongExpectedVersion({ stream, expected: format(want), actual: actualVersion(state) })
}
