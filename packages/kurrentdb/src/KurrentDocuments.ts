/**
 * The DocumentStore on KurrentDB streams: one Strata-owned stream per document,
 * `$strata-doc-<collection>-<id>`, whose latest event is the document (`$strata.document`) or its
 * deletion (`$strata.document-deleted`). A put reads the latest event and appends expecting exactly
 * that revision, so concurrent writers conflict on the server (optimistic concurrency by stream
 * revision); a put with events is one multi-stream append of the document part and the event parts.
 *
 * **Cost.** `get`, `put` and `delete` touch one stream. `find`, `findPage` and `count` scan the
 * collection: a filtered read of `$all` (stream prefix `$strata-doc-<collection>-`) that folds every
 * version of every document ever written to the collection, then matches and sorts in memory. That is
 * O(history of the collection) per query; declared indexes are accepted and do not accelerate it.
 * Use a projection into a query store for large collections.
 *
 * @since 0.1.0
 */
import { STREAM_NAME } from "@kurrent/kurrentdb-client"
import { DocumentQuery, type DocumentStore, Event, ExpectedVersion, StoreError } from "@strata/core"
import { AppendPlan, DocumentCodec } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { KurrentEvents } from "./KurrentEvents.ts"

const documentType = "$strata.document"
const deletedType = "$strata.document-deleted"

const prefixOf = (collection: string) => `$strata-doc-${collection}-`
const streamOf = (collection: string, id: string) => `${prefixOf(collection)}${id}`

interface Stored {
  readonly version: bigint
  readonly encoded: unknown
}

interface Latest {
  /** The stream revision of the latest event, undefined when the stream is empty. */
  readonly revision: bigint | undefined
  /** The document, undefined when missing or deleted. */
  readonly document: Stored | undefined
}

interface DocumentData {
  readonly collection: string
  readonly id: string
  readonly version?: string
  readonly json?: string
}

/**
 * Builds the DocumentStore over the event internals of the same client.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  events: KurrentEvents,
  options: { readonly maxDocumentBytes?: number | undefined } = {}
): DocumentStore.DocumentStoreShape => {
  const backend = "kurrentdb"
  const maxBytes = options.maxDocumentBytes ?? DocumentCodec.defaultMaxDocumentBytes

  const latest = (collection: string, id: string): Effect.Effect<Latest, StoreError.StoreUnavailable> =>
    Stream.runHead(events.readRaw("get", streamOf(collection, id), { backwards: true, limit: 1 })).pipe(
      Effect.map((head): Latest => {
        const event = Option.getOrUndefined(head)?.event
        if (event === undefined) return { revision: undefined, document: undefined }
        const data = event.data as unknown as DocumentData
        return {
          revision: event.revision,
          document: event.type === documentType && data.json !== undefined && data.version !== undefined
            ? { version: BigInt(data.version), encoded: JSON.parse(data.json) }
            : undefined
        }
      }),
      // Document streams are never tombstoned by Strata; treat one as unreachable rather than die.
      Effect.catchTag(
        "StreamDeleted",
        () =>
          Effect.fail(
            new StoreError.StoreUnavailable({ operation: "document", reason: "document stream is tombstoned" })
          )
      )
    )

  const check = (
    collection: string,
    id: string,
    expected: DocumentStore.ExpectedDocument,
    current: Stored | undefined
  ): StoreError.DocumentConflict | undefined => DocumentCodec.conflict(collection, id, expected, current?.version)

  /** The expected revision that pins the state just read. */
  const pin = (state: Latest) =>
    state.revision === undefined ? ExpectedVersion.noStream : ExpectedVersion.exact(state.revision)

  // A conflict on the document stream means another writer got in between: the caller's expectation
  // is judged again against the new state, so `expected: "any"` retries and a version expectation fails.
  const writeDocument = <A>(
    operation: "put" | "delete",
    collection: string,
    id: string,
    expected: DocumentStore.ExpectedDocument,
    build: (state: Latest) => { readonly type: string; readonly data: DocumentData } | undefined,
    extra: ReadonlyArray<AppendPlan.AppendPlan>,
    result: (state: Latest, appended: ReadonlyArray<{ readonly nextExpectedVersion: bigint }>) => A
  ): Effect.Effect<A, StoreError.DocumentStoreError> =>
    Effect.gen(function*() {
      for (let attempt = 0;; attempt++) {
        const state = yield* latest(collection, id)
        const conflict = check(collection, id, expected, state.document)
        if (conflict !== undefined) return yield* conflict
        const event = build(state)
        if (event === undefined) return result(state, [])
        const plan: AppendPlan.AppendPlan = {
          request: {
            stream: streamOf(collection, id),
            events: [{ type: event.type, data: event.data }],
            expected: pin(state)
          },
          prepared: [{
            id: Event.makeEventId(),
            type: event.type,
            data: JSON.stringify(event.data),
            metadata: "{}"
          }]
        }
        const outcome = yield* (extra.length === 0
          ? events.appendPlan(plan).pipe(Effect.map((r) => [r]))
          : events.appendPlans(operation, [plan, ...extra])).pipe(
            Effect.map((appended) => ({ _tag: "Done" as const, appended })),
            Effect.catchTag("WrongExpectedVersion", (error) =>
              error.stream === plan.request.stream && attempt < 50
                ? Effect.succeed({ _tag: "Retry" as const })
                : Effect.fail(error))
          )
        if (outcome._tag === "Done") return result(state, outcome.appended.slice(1))
      }
    })

  const get: DocumentStore.DocumentStoreShape["get"] = (collection, id) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const { document } = yield* latest(collection.name, id)
      return document === undefined
        ? Option.none()
        : Option.some(yield* DocumentCodec.decode(collection, id, document.version, document.encoded))
    })

  const put: DocumentStore.DocumentStoreShape["put"] = (collection, id, value, putOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = yield* DocumentCodec.expected(putOptions?.expected)
      const json = yield* DocumentCodec.encode(collection, id, value, maxBytes)
      const requests = putOptions?.events ?? []
      const plans = requests.length === 0 ? [] : yield* AppendPlan.many("put", requests, maxBytes)
      let written = 0n
      const appended = yield* writeDocument(
        "put",
        collection.name,
        id,
        expected,
        (state) => {
          written = (state.document?.version ?? 0n) + 1n
          return { type: documentType, data: { collection: collection.name, id, version: written.toString(), json } }
        },
        plans,
        (_, appended) => appended
      )
      return { version: written, appended: appended as ReadonlyArray<DocumentStore.PutResult["appended"][number]> }
    })

  const remove: DocumentStore.DocumentStoreShape["delete"] = (collection, id, deleteOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = deleteOptions?.expected ?? "any"
      return yield* writeDocument(
        "delete",
        collection.name,
        id,
        expected,
        (state) =>
          state.document === undefined ? undefined : { type: deletedType, data: { collection: collection.name, id } },
        [],
        (state) => state.document !== undefined
      )
    }).pipe(
      Effect.catchIf(
        (
          error
        ): error is Exclude<
          typeof error,
          StoreError.DocumentConflict | StoreError.InvalidDocument | StoreError.StoreUnavailable
        > => error._tag !== "DocumentConflict" && error._tag !== "InvalidDocument" && error._tag !== "StoreUnavailable",
        (error) => Effect.fail(new StoreError.StoreUnavailable({ operation: "delete", reason: String(error) }))
      )
    )

  /** Every current document of a collection: one filtered scan of `$all`, folded per id. */
  const scan = (collection: string) =>
    Effect.gen(function*() {
      const current = new Map<string, Stored>()
      yield* events.scanAll("find", { filterOn: STREAM_NAME, prefixes: [prefixOf(collection)], checkpointInterval: 1 })
        .pipe(
          Stream.runForEach((resolved) =>
            Effect.sync(() => {
              const event = resolved.event
              if (event === undefined) return
              const data = event.data as unknown as DocumentData
              if (data?.collection !== collection || typeof data.id !== "string") return
              if (event.type === deletedType) current.delete(data.id)
              else if (event.type === documentType && data.json !== undefined && data.version !== undefined) {
                current.set(data.id, { version: BigInt(data.version), encoded: JSON.parse(data.json) })
              }
            })
          )
        )
      return current
    })

  const matching = (stored: Map<string, Stored>, query: DocumentQuery.NormalizedQuery) => {
    const found: Array<{ id: string; stored: Stored; key: DocumentQuery.CursorPosition }> = []
    for (const [id, document] of stored) {
      if (!DocumentQuery.matches(document.encoded, query)) continue
      const key = { values: DocumentQuery.sortValues(document.encoded, query), id }
      if (query.after !== undefined && DocumentQuery.compareKeys(query, key, query.after) <= 0) continue
      found.push({ id, stored: document, key })
    }
    return found.sort((a, b) => DocumentQuery.compareKeys(query, a.key, b.key))
  }

  const findPage: DocumentStore.DocumentStoreShape["findPage"] = (collection, query) =>
    Effect.gen(function*() {
      const normalized = yield* DocumentQuery.normalize(collection.name, query)
      const size = normalized.limit ?? 100
      const rows = matching(yield* scan(collection.name), normalized)
      const page = rows.slice(0, size)
      const documents = yield* Effect.forEach(page, (row) =>
        DocumentCodec.decode(collection, row.id, row.stored.version, row.stored.encoded))
      const last = page[page.length - 1]
      const cursor = rows.length > size && last !== undefined
        ? Option.some(DocumentQuery.encodeCursor(normalized.fingerprint, last.key))
        : Option.none()
      return { documents, cursor }
    })

  // One scan for the whole result (paging through findPage would scan the collection once per page).
  const find: DocumentStore.DocumentStoreShape["find"] = (collection, query) =>
    Stream.unwrap(Effect.gen(function*() {
      const normalized = yield* DocumentQuery.normalize(collection.name, query)
      const rows = matching(yield* scan(collection.name), normalized)
      const selected = normalized.limit === undefined ? rows : rows.slice(0, normalized.limit)
      return Stream.fromIterable(selected).pipe(
        Stream.mapEffect((row) => DocumentCodec.decode(collection, row.id, row.stored.version, row.stored.encoded))
      )
    }))

  const count: DocumentStore.DocumentStoreShape["count"] = (collection, query) =>
    Effect.gen(function*() {
      const normalized = yield* DocumentQuery.normalize(collection.name, { where: query?.where })
      return matching(yield* scan(collection.name), normalized).length
    })

  return { backend, get, put, delete: remove, find, findPage, count }
}
