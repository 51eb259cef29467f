/**
 * Encoding and decoding documents, shared by every backend so the same values are accepted and
 * refused everywhere.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as DocumentQuery from "../DocumentQuery.ts"
import {
  type Collection,
  Delete,
  type Document,
  type DocumentWrite,
  type ExpectedDocument,
  maxBatch
} from "../DocumentStore.ts"
import * as Json from "../internal/json.ts"
import { DocumentConflict, InvalidArgument, InvalidDocument } from "../StoreError.ts"

/**
 * The default largest document, as UTF-8 JSON.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultMaxDocumentBytes = 1024 * 1024

/**
 * Checks the collection name and the id of a document.
 *
 * @category validation
 * @since 0.1.0
 */
export const checkId = (collection: string, id: string): Effect.Effect<void, InvalidDocument> => {
  const problem = DocumentQuery.collectionProblem(collection) ?? DocumentQuery.documentIdProblem(id)
  return problem === undefined
    ? Effect.void
    : Effect.fail(new InvalidDocument({ collection: String(collection), id: String(id), detail: problem }))
}

/**
 * Encodes a value with the collection's schema into JSON text: plain JSON (see the event rules: strings
 * well-formed Unicode, at most 256 levels deep, `-0` stored as `0`), no U+0000 in strings (PostgreSQL's jsonb
 * cannot hold it, so no backend accepts it), at most `maxBytes`.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = <A, I>(
  collection: Collection<A, I>,
  id: string,
  value: A,
  maxBytes: number = defaultMaxDocumentBytes
): Effect.Effect<string, InvalidDocument> =>
  // A recursive schema would walk a very deep value recursively and overflow the stack: bound it first.
  Json.deeperThan(value, Json.maxDepth)
    ? Effect.fail(
      new InvalidDocument({
        collection: collection.name,
        id,
        detail:
          `the document is nested more than ${Json.maxDepth} levels deep (or refers back to itself); the limit is ${Json.maxDepth}`
      })
    )
    : Schema.encodeEffect(collection.schema)(value).pipe(
      Effect.mapError((error) => new InvalidDocument({ collection: collection.name, id, detail: error.message })),
      Effect.flatMap((encoded) => {
        const fail = (detail: string) => Effect.fail(new InvalidDocument({ collection: collection.name, id, detail }))
        const problem = Json.problem(encoded)
        if (problem !== undefined) return fail(`not plain JSON: ${problem}`)
        const json = JSON.stringify(encoded)
        // A NUL is the escape \u0000 after an even number of backslashes: in `\\u0000` the backslash is a
        // literal one, followed by the text "u0000", which is fine.
        if (/(?<!\\)(?:\\\\)*\\u0000/.test(json)) return fail("strings in documents cannot contain U+0000 (NUL)")
        const size = Json.byteLength(json)
        return size > maxBytes ? fail(`${size} bytes of JSON; the limit is ${maxBytes}`) : Effect.succeed(json)
      })
    )

/**
 * Decodes a stored document (its parsed JSON) with the collection's schema.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = <A, I>(
  collection: Collection<A, I>,
  id: string,
  version: bigint,
  encoded: unknown
): Effect.Effect<Document<A>, InvalidDocument> =>
  Schema.decodeUnknownEffect(collection.schema)(encoded).pipe(
    Effect.map((value): Document<A> => ({ id, version, value })),
    Effect.mapError((error) =>
      new InvalidDocument({
        collection: collection.name,
        id,
        detail: `stored document does not decode: ${error.message}`
      })
    )
  )

/**
 * Checks what a `put` expects of the stored document, defaulting to `"any"`.
 *
 * @category validation
 * @since 0.1.0
 */
export const expected = (value: ExpectedDocument | undefined): Effect.Effect<ExpectedDocument, InvalidArgument> =>
  value === undefined || value === "any" || value === "missing" || (typeof value === "bigint" && value >= 1n)
    ? Effect.succeed(value ?? "any")
    : Effect.fail(
      new InvalidArgument({ operation: "put", detail: "expected must be \"any\", \"missing\" or a bigint >= 1" })
    )

/**
 * How an expected document state reads in a `DocumentConflict`: `any`, `missing` or `version N`.
 *
 * @category validation
 * @since 0.1.0
 */
export const expectedLabel = (expected: ExpectedDocument): string =>
  expected === "any" ? "any" : expected === "missing" ? "missing" : `version ${expected}`

/**
 * The expected-document rule: the conflict a write expecting `expected` meets when the stored
 * document is at `actual` (`undefined`: none is stored), or `undefined` when the write may go ahead.
 *
 * @category validation
 * @since 0.1.0
 */
export const conflict = (
  collection: string,
  id: string,
  expected: ExpectedDocument,
  actual: bigint | undefined
): DocumentConflict | undefined => {
  const ok = expected === "any" || (expected === "missing" ? actual === undefined : actual === expected)
  if (ok) return undefined
  const label = expectedLabel(expected)
  return actual === undefined
    ? new DocumentConflict({ collection, id, expected: label })
    : new DocumentConflict({ collection, id, expected: label, actual })
}

/**
 * A checked, encoded write of a `writeMany`: `json` is `undefined` for a delete.
 *
 * @category models
 * @since 0.1.0
 */
export interface PreparedWrite {
  readonly id: string
  readonly json: string | undefined
  readonly expected: ExpectedDocument
}

const tooMany = (operation: string, what: string, n: number) =>
  new InvalidArgument({
    operation,
    detail: `${n} ${what} in one call; the limit is ${maxBatch}: split the batch`
  })

/**
 * Checks the ids of a `getMany` (at most `DocumentStore.maxBatch`, each valid) and drops repeats.
 *
 * @category validation
 * @since 0.1.0
 */
export const checkIds = (
  collection: string,
  ids: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string>, InvalidDocument | InvalidArgument> =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<string>, InvalidDocument | InvalidArgument> => {
    if (!Array.isArray(ids)) {
      return Effect.fail(new InvalidArgument({ operation: "getMany", detail: "ids must be an array of strings" }))
    }
    if (ids.length > maxBatch) return Effect.fail(tooMany("getMany", "ids", ids.length))
    const unique = [...new Set(ids)]
    return Effect.as(Effect.forEach(unique, (id) => checkId(collection, id), { discard: true }), unique)
  })

/**
 * Checks and encodes the writes of a `writeMany`: at most `DocumentStore.maxBatch`, each id valid and
 * present once, each `expected` valid, each value encoded by the collection's schema.
 *
 * @category validation
 * @since 0.1.0
 */
export const prepareWrites = <A, I>(
  collection: Collection<A, I>,
  writes: ReadonlyArray<DocumentWrite<A>>,
  maxBytes: number = defaultMaxDocumentBytes
): Effect.Effect<ReadonlyArray<PreparedWrite>, InvalidDocument | InvalidArgument> =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<PreparedWrite>, InvalidDocument | InvalidArgument> => {
    if (!Array.isArray(writes)) {
      return Effect.fail(new InvalidArgument({ operation: "writeMany", detail: "writes must be an array" }))
    }
    if (writes.length > maxBatch) return Effect.fail(tooMany("writeMany", "writes", writes.length))
    const seen = new Set<string>()
    return Effect.forEach(writes, (write) =>
      Effect.gen(function*() {
        yield* checkId(collection.name, write.id)
        if (seen.has(write.id)) {
          return yield* new InvalidArgument({
            operation: "writeMany",
            detail: `document ${JSON.stringify(write.id)} is written twice in one batch: fold its writes into one`
          })
        }
        seen.add(write.id)
        const expectation = yield* Effect.mapError(
          expected(write.expected),
          (error) => new InvalidArgument({ operation: "writeMany", detail: error.detail })
        )
        const json = write.value === Delete ? undefined : yield* encode(collection, write.id, write.value, maxBytes)
        return { id: write.id, json, expected: expectation } satisfies PreparedWrite
      }))
  })
