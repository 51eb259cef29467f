/**
 * Encoding and decoding documents, shared by every backend so the same values are accepted and
 * refused everywhere.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
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
  const refused = idRefused(collection, id)
  return refused === undefined ? Exit.void : Exit.fail(refused)
}

const idRefused = (collection: string, id: string): InvalidDocument | undefined => {
  const problem = DocumentQuery.collectionProblem(collection) ?? DocumentQuery.documentIdProblem(id)
  return problem === undefined
    ? undefined
    : new InvalidDocument({ collection: String(collection), id: String(id), detail: problem })
}

// Schema parsers answer an Exit directly when the schema is synchronous (every plain schema): the
// document rules then run as plain code, without an Effect step per document. An asynchronous
// schema keeps its Effect.
const settle = <A, E, B, E2>(
  effect: Effect.Effect<A, E>,
  f: (exit: Exit.Exit<A, E>) => Exit.Exit<B, E2>
): Effect.Effect<B, E2> => Exit.isExit(effect) ? f(effect as Exit.Exit<A, E>) : Effect.flatMap(Effect.exit(effect), f)

const encodeWith = <A, I>(
  collection: Collection<A, I>,
  id: string,
  value: A,
  maxBytes: number
): Effect.Effect<string, InvalidDocument> => {
  const fail = (detail: string) => Exit.fail(new InvalidDocument({ collection: collection.name, id, detail }))
  // A recursive schema would walk a very deep value recursively and overflow the stack: bound it first.
  if (Json.deeperThan(value, Json.maxDepth)) {
    return fail(
      `the document is nested more than ${Json.maxDepth} levels deep (or refers back to itself); the limit is ${Json.maxDepth}`
    )
  }
  return settle(Schema.encodeEffect(collection.schema)(value), (exit): Exit.Exit<string, InvalidDocument> => {
    if (Exit.isFailure(exit)) {
      const error = Exit.findErrorOption(exit)
      return error._tag === "None" ? exit as Exit.Exit<never> : fail(error.value.message)
    }
    const encoded = exit.value
    const problem = Json.problem(encoded)
    if (problem !== undefined) return fail(`not plain JSON: ${problem}`)
    const json = JSON.stringify(encoded)
    // A NUL is the escape \u0000 after an even number of backslashes: in `\\u0000` the backslash is a
    // literal one, followed by the text "u0000", which is fine.
    if (/(?<!\\)(?:\\\\)*\\u0000/.test(json)) return fail("strings in documents cannot contain U+0000 (NUL)")
    const size = Json.byteLength(json)
    return size > maxBytes ? fail(`${size} bytes of JSON; the limit is ${maxBytes}`) : Exit.succeed(json)
  })
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
): Effect.Effect<string, InvalidDocument> => Effect.suspend(() => encodeWith(collection, id, value, maxBytes))

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
): Effect.Effect<Document<A>, InvalidDocument> => Effect.suspend(() => decodeWith(collection, id, version, encoded))

const decodeWith = <A, I>(
  collection: Collection<A, I>,
  id: string,
  version: bigint,
  encoded: unknown
): Effect.Effect<Document<A>, InvalidDocument> =>
  settle(Schema.decodeUnknownEffect(collection.schema)(encoded), (exit): Exit.Exit<Document<A>, InvalidDocument> => {
    if (Exit.isSuccess(exit)) return Exit.succeed({ id, version, value: exit.value })
    const error = Exit.findErrorOption(exit)
    return error._tag === "None"
      ? exit as Exit.Exit<never>
      : Exit.fail(
        new InvalidDocument({
          collection: collection.name,
          id,
          detail: `stored document does not decode: ${error.value.message}`
        })
      )
  })

/**
 * {@link decode} as plain code: its `Exit`, or `undefined` when the collection's schema is
 * asynchronous (then decode with {@link decode}).
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeSync = <A, I>(
  collection: Collection<A, I>,
  id: string,
  version: bigint,
  encoded: unknown
): Exit.Exit<Document<A>, InvalidDocument> | undefined => {
  const decoded = decodeWith(collection, id, version, encoded)
  return Exit.isExit(decoded) ? decoded as Exit.Exit<Document<A>, InvalidDocument> : undefined
}

/**
 * Checks what a `put` expects of the stored document, defaulting to `"any"`.
 *
 * @category validation
 * @since 0.1.0
 */
export const expected = (value: ExpectedDocument | undefined): Effect.Effect<ExpectedDocument, InvalidArgument> =>
  isExpected(value)
    ? Exit.succeed(value ?? "any")
    : Exit.fail(new InvalidArgument({ operation: "put", detail: expectedDetail }))

const isExpected = (value: ExpectedDocument | undefined): boolean =>
  value === undefined || value === "any" || value === "missing" || (typeof value === "bigint" && value >= 1n)

const expectedDetail = "expected must be \"any\", \"missing\" or a bigint >= 1"

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
  Effect.suspend(() => checkIdsSync(collection, ids))

/**
 * {@link checkIds} as plain code.
 *
 * @category validation
 * @since 0.1.0
 */
export const checkIdsSync = (
  collection: string,
  ids: ReadonlyArray<string>
): Exit.Exit<ReadonlyArray<string>, InvalidDocument | InvalidArgument> => {
  if (!Array.isArray(ids)) {
    return Exit.fail(new InvalidArgument({ operation: "getMany", detail: "ids must be an array of strings" }))
  }
  if (ids.length > maxBatch) return Exit.fail(tooMany("getMany", "ids", ids.length))
  const unique = ids.length === 1 ? ids : [...new Set(ids)]
  for (const id of unique) {
    const refused = idRefused(collection, id)
    if (refused !== undefined) return Exit.fail(refused)
  }
  return Exit.succeed(unique)
}

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
  Effect.suspend(() => prepareWritesWith(collection, writes, maxBytes))

/**
 * {@link prepareWrites} as plain code: its `Exit`, or `undefined` when the collection's schema is
 * asynchronous (then prepare them with {@link prepareWrites}).
 *
 * @category validation
 * @since 0.1.0
 */
export const prepareWritesSync = <A, I>(
  collection: Collection<A, I>,
  writes: ReadonlyArray<DocumentWrite<A>>,
  maxBytes: number = defaultMaxDocumentBytes
): Exit.Exit<ReadonlyArray<PreparedWrite>, InvalidDocument | InvalidArgument> | undefined => {
  const prepared = prepareWritesWith(collection, writes, maxBytes)
  return Exit.isExit(prepared)
    ? prepared as Exit.Exit<ReadonlyArray<PreparedWrite>, InvalidDocument | InvalidArgument>
    : undefined
}

const prepareWritesWith = <A, I>(
  collection: Collection<A, I>,
  writes: ReadonlyArray<DocumentWrite<A>>,
  maxBytes: number
): Effect.Effect<ReadonlyArray<PreparedWrite>, InvalidDocument | InvalidArgument> => {
  if (!Array.isArray(writes)) {
    return Effect.fail(new InvalidArgument({ operation: "writeMany", detail: "writes must be an array" }))
  }
  if (writes.length > maxBatch) return Effect.fail(tooMany("writeMany", "writes", writes.length))
  // One plain loop over the writes; the first refused write fails the call, as before.
  const seen = new Set<string>()
  const prepared: Array<PreparedWrite> = []
  const pending: Array<Effect.Effect<unknown, InvalidDocument>> = []
  for (const write of writes) {
    const refused = idRefused(collection.name, write.id)
    if (refused !== undefined) return Exit.fail(refused)
    if (seen.has(write.id)) {
      return Exit.fail(
        new InvalidArgument({
          operation: "writeMany",
          detail: `document ${JSON.stringify(write.id)} is written twice in one batch: fold its writes into one`
        })
      )
    }
    seen.add(write.id)
    if (!isExpected(write.expected)) {
      return Exit.fail(new InvalidArgument({ operation: "writeMany", detail: expectedDetail }))
    }
    const expectedValue = write.expected ?? "any"
    if (write.value === Delete) {
      prepared.push({ id: write.id, json: undefined, expected: expectedValue })
      continue
    }
    const json = encodeWith(collection, write.id, write.value, maxBytes)
    const settled = Exit.isExit(json) ? json as Exit.Exit<string, InvalidDocument> : undefined
    if (settled !== undefined) {
      if (Exit.isFailure(settled)) return Exit.failCause(settled.cause)
      prepared.push({ id: write.id, json: settled.value, expected: expectedValue })
      continue
    }
    // An asynchronous schema: this write's encoding completes later, in order with the rest.
    const slot = prepared.length
    prepared.push({ id: write.id, json: undefined, expected: expectedValue })
    pending.push(Effect.map(json, (text) => {
      prepared[slot] = { ...prepared[slot], json: text }
    }))
  }
  return pending.length === 0
    ? Exit.succeed(prepared)
    : Effect.as(Effect.forEach(pending, (effect) => effect, { discard: true }), prepared)
}
