/**
 * Expected versions: every mode against every state a stream can be in, on appends and deletes.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore, EventStore, ExpectedVersion, UnitOfWork } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { events, failsWith, names, readAll, readStream } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

type State = "missing" | "existing" | "soft-deleted" | "tombstoned"

/** Puts a fresh stream in `state`: existing streams hold 3 events (last version 2). */
const setUp = (state: State, stream: string, type: string) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    if (state === "missing") return
    yield* store.append(stream, events(type, 3))
    if (state === "soft-deleted") yield* store.deleteStream(stream)
    if (state === "tombstoned") yield* store.tombstoneStream(stream)
  })

type Outcome =
  | { readonly _tag: "Appends"; readonly version: bigint }
  | { readonly _tag: "Conflict"; readonly actual: bigint | undefined }
  | { readonly _tag: "Tombstoned" }

const appends = (version: bigint): Outcome => ({ _tag: "Appends", version })
const conflict = (actual: bigint | undefined): Outcome => ({ _tag: "Conflict", actual })
const tombstoned: Outcome = { _tag: "Tombstoned" }

const modes: ReadonlyArray<readonly [string, ExpectedVersion.ExpectedVersion, Record<State, Outcome>]> = [
  ["any", ExpectedVersion.any, {
    missing: appends(0n),
    existing: appends(3n),
    "soft-deleted": appends(3n),
    tombstoned
  }],
  ["noStream", ExpectedVersion.noStream, {
    missing: appends(0n),
    existing: conflict(2n),
    "soft-deleted": appends(3n),
    tombstoned
  }],
  ["streamExists", ExpectedVersion.streamExists, {
    missing: conflict(undefined),
    existing: appends(3n),
    "soft-deleted": conflict(undefined),
    tombstoned
  }],
  ["exact(2)", ExpectedVersion.exact(2), {
    missing: conflict(undefined),
    existing: appends(3n),
    "soft-deleted": conflict(undefined),
    tombstoned
  }]
]

const describeState: Record<State, string> = {
  missing: "a missing stream",
  existing: "an existing stream at version 2",
  "soft-deleted": "a soft-deleted stream (last version 2)",
  tombstoned: "a tombstoned stream"
}

const describeOutcome = (outcome: Outcome): string => {
  switch (outcome._tag) {
    case "Appends":
      return `appends the event at version ${outcome.version}`
    case "Conflict":
      return `fails with WrongExpectedVersion reporting actual ${
        outcome.actual === undefined ? "undefined" : outcome.actual
      } and writes nothing`
    case "Tombstoned":
      return "fails with StreamDeleted { tombstoned: true }"
  }
}

type Deletion = "deleteStream" | "tombstoneStream"

type DeleteOutcome =
  | { readonly _tag: "Done"; readonly status: "missing" | "deleted" | "tombstoned" }
  | { readonly _tag: "Conflict"; readonly actual: bigint | undefined }
  | { readonly _tag: "Tombstoned" }

const done = (status: "missing" | "deleted" | "tombstoned"): DeleteOutcome => ({ _tag: "Done", status })
const deleteConflict = (actual: bigint | undefined): DeleteOutcome => ({ _tag: "Conflict", actual })
const deleteTombstoned: DeleteOutcome = { _tag: "Tombstoned" }

/** The same four modes against the same four states, for the two deletions (as KurrentDB does it). */
const deleteModes: Record<
  Deletion,
  ReadonlyArray<readonly [string, ExpectedVersion.ExpectedVersion, Record<State, DeleteOutcome>]>
> = {
  deleteStream: [
    ["any", ExpectedVersion.any, {
      missing: done("missing"),
      existing: done("deleted"),
      "soft-deleted": done("deleted"),
      tombstoned: deleteTombstoned
    }],
    ["noStream", ExpectedVersion.noStream, {
      missing: done("missing"),
      existing: deleteConflict(2n),
      "soft-deleted": done("deleted"),
      tombstoned: deleteTombstoned
    }],
    ["streamExists", ExpectedVersion.streamExists, {
      missing: deleteConflict(undefined),
      existing: done("deleted"),
      "soft-deleted": deleteConflict(undefined),
      tombstoned: deleteTombstoned
    }],
    ["exact(2)", ExpectedVersion.exact(2), {
      missing: deleteConflict(undefined),
      existing: done("deleted"),
      "soft-deleted": deleteConflict(undefined),
      tombstoned: deleteTombstoned
    }]
  ],
  tombstoneStream: [
    ["any", ExpectedVersion.any, {
      missing: done("tombstoned"),
      existing: done("tombstoned"),
      "soft-deleted": done("tombstoned"),
      tombstoned: deleteTombstoned
    }],
    ["noStream", ExpectedVersion.noStream, {
      missing: done("tombstoned"),
      existing: deleteConflict(2n),
      "soft-deleted": done("tombstoned"),
      tombstoned: deleteTombstoned
    }],
    ["streamExists", ExpectedVersion.streamExists, {
      missing: deleteConflict(undefined),
      existing: done("tombstoned"),
      "soft-deleted": deleteConflict(undefined),
      tombstoned: deleteTombstoned
    }],
    ["exact(2)", ExpectedVersion.exact(2), {
      missing: deleteConflict(undefined),
      existing: done("tombstoned"),
      "soft-deleted": deleteConflict(undefined),
      tombstoned: deleteTombstoned
    }]
  ]
}

/**
 * The writes that carry an expected version, each aimed at `stream` (and, for the multi-stream forms,
 * a fresh `other` stream and a document, which must not be written either).
 */
type Write = "append" | "appendMany" | "put with events" | "UnitOfWork.commit" | "deleteStream" | "tombstoneStream"

const writes: ReadonlyArray<Write> = [
  "append",
  "appendMany",
  "put with events",
  "UnitOfWork.commit",
  "deleteStream",
  "tombstoneStream"
]

const attemptWrite = (
  write: Write,
  n: ReturnType<typeof names>,
  expected: ExpectedVersion.ExpectedVersion
) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const docs = yield* DocumentStore.DocumentStore
    const stream = n.stream()
    const part = { stream, events: events(n.type("New"), 1), expected }
    const other = { stream: n.stream("other"), events: events(n.type("New"), 1), expected: ExpectedVersion.noStream }
    const c = DocumentStore.collection(n.collection(), Schema.Unknown)
    switch (write) {
      case "append":
        return yield* store.append(stream, part.events, { expected })
      case "appendMany":
        return yield* store.appendMany([other, part])
      case "put with events":
        return yield* docs.put(c, "d", { v: 1 }, { events: [part] })
      case "UnitOfWork.commit":
        return yield* UnitOfWork.commit({ appends: [other, part], documents: [{ collection: c, id: "d", value: {} }] })
      case "deleteStream":
        return yield* store.deleteStream(stream, { expected })
      case "tombstoneStream":
        return yield* store.tombstoneStream(stream, { expected })
    }
  })

/** Checks that a refused `write` left the stream as `before` and wrote nothing else. */
const assertNothingWritten = (n: ReturnType<typeof names>, before: EventStore.StreamInfo) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const docs = yield* DocumentStore.DocumentStore
    const after = yield* store.streamInfo(n.stream())
    assert.strictEqual(after.status, before.status)
    assert.strictEqual(after.lastVersion, before.lastVersion)
    assert.strictEqual((yield* store.streamInfo(n.stream("other"))).status, "missing")
    assert.isTrue(Option.isNone(yield* docs.get(DocumentStore.collection(n.collection(), Schema.Unknown), "d")))
    assert.strictEqual((yield* readAll({ filter: { types: [n.type("New")] } })).length, 0)
  })

const describeDeleteOutcome = (outcome: DeleteOutcome): string =>
  outcome._tag === "Done"
    ? `succeeds and leaves it ${outcome.status}`
    : describeOutcome(outcome).replace(" and writes nothing", " and leaves the status as it was")

/**
 * Registers the expected-version tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const expectedVersionSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { exactMatchesSoftDeleted, supportsAppendMany } = resolve(options)
  const runs = (write: Write) => supportsAppendMany || (write !== "appendMany" && write !== "UnitOfWork.commit")
  describe("expected version", () => {
    for (const [label, expected, outcomes] of modes) {
      for (const state of ["missing", "existing", "soft-deleted", "tombstoned"] as const) {
        const outcome = exactMatchesSoftDeleted && expected._tag === "Exact" && state === "soft-deleted"
          ? appends(3n)
          : outcomes[state]
        it.effect(`${label} against ${describeState[state]} ${describeOutcome(outcome)}`, () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const n = names()
            const stream = n.stream()
            yield* setUp(state, stream, n.type("Old"))
            const before = yield* store.streamInfo(stream)
            const attempt = store.append(stream, [{ type: n.type("New"), data: { new: true } }], { expected })
            switch (outcome._tag) {
              case "Appends": {
                const result = yield* attempt
                assert.strictEqual(result.stream, stream)
                assert.strictEqual(result.nextExpectedVersion, outcome.version)
                const visible = yield* readStream(stream)
                const expectedVisible = state === "existing" ? 4 : 1
                assert.strictEqual(visible.length, expectedVisible)
                const last = visible[visible.length - 1]
                assert.strictEqual(last.version, outcome.version)
                assert.strictEqual(last.type, n.type("New"))
                assert.strictEqual(last.position, result.position)
                assert.strictEqual((yield* store.streamInfo(stream)).status, "active")
                break
              }
              case "Conflict": {
                const error = yield* failsWith("WrongExpectedVersion")(attempt)
                assert.strictEqual(error.stream, stream)
                assert.strictEqual(error.expected, ExpectedVersion.format(expected))
                assert.strictEqual(error.actual, outcome.actual)
                assert.isFalse(error.isRetryable)
                const after = yield* store.streamInfo(stream)
                assert.strictEqual(after.status, before.status)
                assert.strictEqual(after.lastVersion, before.lastVersion)
                break
              }
              case "Tombstoned": {
                const error = yield* failsWith("StreamDeleted")(attempt)
                assert.strictEqual(error.stream, stream)
                assert.isTrue(error.tombstoned)
                const after = yield* store.streamInfo(stream)
                assert.strictEqual(after.status, "tombstoned")
                assert.strictEqual(after.lastVersion, 2n)
                break
              }
            }
          }))
      }
    }

    for (const operation of ["deleteStream", "tombstoneStream"] as const) {
      for (const [label, expected, outcomes] of deleteModes[operation]) {
        for (const state of ["missing", "existing", "soft-deleted", "tombstoned"] as const) {
          // Where exact(last) ignores a soft delete (KurrentDB), it deletes or tombstones the stream again.
          const outcome = exactMatchesSoftDeleted && expected._tag === "Exact" && state === "soft-deleted"
            ? done(operation === "deleteStream" ? "deleted" : "tombstoned")
            : outcomes[state]
          it.effect(`${operation} with ${label} against ${describeState[state]} ${describeDeleteOutcome(outcome)}`, () =>
            Effect.gen(function*() {
              const store = yield* EventStore.EventStore
              const n = names()
              const stream = n.stream()
              yield* setUp(state, stream, n.type("Old"))
              const before = yield* store.streamInfo(stream)
              const attempt = store[operation](stream, { expected })
              switch (outcome._tag) {
                case "Done": {
                  yield* attempt
                  const after = yield* store.streamInfo(stream)
                  assert.strictEqual(
                    after.status,
                    outcome.status,
                    `${operation} succeeded but left the stream ${after.status}`
                  )
                  assert.strictEqual(after.lastVersion, before.lastVersion)
                  if (outcome.status === "tombstoned") {
                    yield* failsWith("StreamDeleted")(store.append(stream, events(n.type("New"), 1)))
                  }
                  break
                }
                case "Conflict": {
                  const error = yield* failsWith("WrongExpectedVersion")(attempt)
                  assert.strictEqual(error.stream, stream)
                  assert.strictEqual(error.expected, ExpectedVersion.format(expected))
                  assert.strictEqual(error.actual, outcome.actual)
                  const after = yield* store.streamInfo(stream)
                  assert.strictEqual(after.status, before.status)
                  assert.strictEqual(after.lastVersion, before.lastVersion)
                  assert.strictEqual((yield* readStream(stream)).length, state === "existing" ? 3 : 0)
                  break
                }
                case "Tombstoned": {
                  const error = yield* failsWith("StreamDeleted")(attempt)
                  assert.isTrue(error.tombstoned)
                  assert.strictEqual((yield* store.streamInfo(stream)).status, "tombstoned")
                  break
                }
              }
            }))
        }
      }
    }

    it.effect("exact(n) against a stream at n+1 fails with WrongExpectedVersion reporting actual n+1", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 5))
        const error = yield* failsWith("WrongExpectedVersion")(
          store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.exact(3) })
        )
        assert.strictEqual(error.actual, 4n)
        assert.strictEqual(error.expected, ExpectedVersion.format(ExpectedVersion.exact(3)))
        assert.strictEqual((yield* readStream(stream)).length, 5)
      }))

    it.effect("exact(n) against a stream at n-1 fails with WrongExpectedVersion reporting actual n-1", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        const error = yield* failsWith("WrongExpectedVersion")(
          store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.exact(3) })
        )
        assert.strictEqual(error.actual, 2n)
        assert.strictEqual((yield* readStream(stream)).length, 3)
      }))

    it.effect("exact(0) against a missing stream fails with actual undefined", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const error = yield* failsWith("WrongExpectedVersion")(
          store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.exact(0) })
        )
        assert.strictEqual(error.actual, undefined)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("chained exact appends using each nextExpectedVersion all succeed", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        let result = yield* store.append(stream, events(n.type("E"), 2), { expected: ExpectedVersion.noStream })
        for (let i = 0; i < 5; i++) {
          result = yield* store.append(stream, events(n.type("E"), 1), {
            expected: ExpectedVersion.exact(result.nextExpectedVersion)
          })
        }
        assert.strictEqual(result.nextExpectedVersion, 6n)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [0n, 1n, 2n, 3n, 4n, 5n, 6n])
      }))

    it.effect("a failed multi-event append writes none of its events", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 1))
        yield* failsWith("WrongExpectedVersion")(
          store.append(stream, events(n.type("Bad"), 10), { expected: ExpectedVersion.noStream })
        )
        const all = yield* readStream(stream)
        assert.deepStrictEqual(all.map((e) => e.type), [n.type("E")])
        assert.strictEqual((yield* readAll({ filter: { types: [n.type("Bad")] } })).length, 0)
      }))

    it.effect("deleteStream with exact(n) succeeds when the stream is at n", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        yield* store.deleteStream(stream, { expected: ExpectedVersion.exact(2) })
        assert.strictEqual((yield* store.streamInfo(stream)).status, "deleted")
      }))

    it.effect("deleteStream with a wrong exact version fails with WrongExpectedVersion and keeps the stream", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        const error = yield* failsWith("WrongExpectedVersion")(
          store.deleteStream(stream, { expected: ExpectedVersion.exact(1) })
        )
        assert.strictEqual(error.actual, 2n)
        assert.strictEqual(error.stream, stream)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "active")
        assert.strictEqual((yield* readStream(stream)).length, 3)
      }))

    it.effect("deleteStream with streamExists on a missing stream fails with actual undefined", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const error = yield* failsWith("WrongExpectedVersion")(
          store.deleteStream(stream, { expected: ExpectedVersion.streamExists })
        )
        assert.strictEqual(error.actual, undefined)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("tombstoneStream with noStream on an existing stream fails and leaves it writable", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        const error = yield* failsWith("WrongExpectedVersion")(
          store.tombstoneStream(stream, { expected: ExpectedVersion.noStream })
        )
        assert.strictEqual(error.actual, 1n)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "active")
        const result = yield* store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.exact(1) })
        assert.strictEqual(result.nextExpectedVersion, 2n)
      }))

    // A negative exact version is an expectation no stream can meet (versions count from 0; a stream
    // with no events is noStream). Appends refuse it before the store is asked, the same on every
    // backend: WrongExpectedVersion without actual (the stream is not read), whatever the stream's
    // state, and nothing written. Deletes judge it against the stream like any other wrong version.
    describe("a negative exact version", () => {
      const isDelete = (write: Write) => write === "deleteStream" || write === "tombstoneStream"
      for (const version of [-1n, -9_007_199_254_740_991n]) {
        for (const state of ["missing", "existing", "soft-deleted", "tombstoned"] as const) {
          for (const write of writes.filter(runs)) {
            const outcome = !isDelete(write)
              ? "fails with WrongExpectedVersion (no actual, not retryable)"
              : state === "tombstoned"
              ? "fails with StreamDeleted"
              : `fails with WrongExpectedVersion (actual ${state === "existing" ? "2" : "undefined"}, not retryable)`
            it.effect(`${write} with exact(${version}) against ${describeState[state]} ${outcome} and writes nothing`, () =>
              Effect.gen(function*() {
                const store = yield* EventStore.EventStore
                const n = names()
                yield* setUp(state, n.stream(), n.type("Old"))
                const before = yield* store.streamInfo(n.stream())
                const expected = ExpectedVersion.exact(version)
                if (isDelete(write) && state === "tombstoned") {
                  const error = yield* failsWith("StreamDeleted")(attemptWrite(write, n, expected))
                  assert.isTrue(error.tombstoned)
                } else {
                  const error = yield* failsWith("WrongExpectedVersion")(attemptWrite(write, n, expected))
                  assert.strictEqual(error.stream, n.stream())
                  assert.strictEqual(error.expected, ExpectedVersion.format(expected))
                  assert.strictEqual(error.actual, isDelete(write) && state === "existing" ? 2n : undefined)
                  assert.isFalse(error.isRetryable)
                }
                yield* assertNothingWritten(n, before)
              }))
          }
        }
      }
    })

    // A soft-deleted stream has no visible version: a wrong exact(n) reports none, not the hidden last
    // version (2 here; exact(2) itself appends where exactMatchesSoftDeleted, see the matrix above).
    for (const version of [1n, 3n]) {
      for (const write of writes.filter(runs)) {
        it.effect(
          `${write} with exact(${version}) against ${
            describeState["soft-deleted"]
          } fails with WrongExpectedVersion reporting actual undefined`,
          () =>
            Effect.gen(function*() {
              const store = yield* EventStore.EventStore
              const n = names()
              yield* setUp("soft-deleted", n.stream(), n.type("Old"))
              const before = yield* store.streamInfo(n.stream())
              const expected = ExpectedVersion.exact(version)
              const error = yield* failsWith("WrongExpectedVersion")(attemptWrite(write, n, expected))
              assert.strictEqual(error.stream, n.stream())
              assert.strictEqual(error.expected, ExpectedVersion.format(expected))
              assert.strictEqual(error.actual, undefined)
              yield* assertNothingWritten(n, before)
            })
        )
      }
    }
  })
}
