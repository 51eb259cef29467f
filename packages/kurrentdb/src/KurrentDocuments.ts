/**
 * The DocumentStore on KurrentDB streams: one Strata-owned stream per document,
 * `$strata-doc-<collection>-<id>`, whose latest event is the document (`$strata.document`) or its
 * deletion (`$strata.document-deleted`). A put reads the latest event and appends expecting exactly
 * that revision, so concurrent writers conflict on the server (optimistic concurrency by stream
 * revision); a put with events is one multi-stream append of the document part and the event parts,
 * and a repeat of one (the same event ids, the same document) answers its original result, by core's
 * Replay rule as on every backend.
 *
 * **Cost.** `get`, `put` and `delete` touch one stream. `find`, `findPage` and `count` scan the
 * collection: a filtered read of `$all` (stream prefix `$strata-doc-<collection>-`) that folds every
 * version of every document ever written to the collection, then matches and sorts in memory. That is
 * O(history of the collection) per query; declared indexes are accepted and do not accelerate it.
 * Use a projection into a query store for large collections.
 *
 * This module is the public face: {@link make}, with `get`, `put` and `delete`. The rest lives in
 * internal modules: the layout of a document stream (`internal/documentsStreams.ts`), the point read
 * and the guarded write (`internal/documentsWrite.ts`) and the queries (`internal/documentsQuery.ts`).
 *
 * @since 0.1.0
 */
import { type DocumentStore, Event, ExpectedVersion, StoreError } from "@strata/core"
import { AppendPlan, DocumentCodec } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Query from "./internal/documentsQuery.ts"
import { deletedType, documentType, streamOf } from "./internal/documentsStreams.ts"
import * as Write from "./internal/documentsWrite.ts"
import type { KurrentEvents } from "./KurrentEvents.ts"

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
  const { latest, putWithEvents, writeDocument } = Write.make(events)

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
      if (requests.length > 0) {
        return yield* putWithEvents(
          collection.name,
          id,
          { expected, json },
          yield* AppendPlan.many("put", requests, maxBytes)
        )
      }
      let written = 0n
      return yield* writeDocument(
        collection.name,
        id,
        expected,
        (state) => {
          written = (state.document?.version ?? 0n) + 1n
          return { type: documentType, data: { collection: collection.name, id, version: written.toString(), json } }
        },
        (): DocumentStore.PutResult => ({ version: written, appended: [] })
      )
    })

  const remove: DocumentStore.DocumentStoreShape["delete"] = (collection, id, deleteOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = deleteOptions?.expected ?? "any"
      return yield* writeDocument(
        collection.name,
        id,
        expected,
        (state) =>
          state.document === undefined ? undefined : { type: deletedType, data: { collection: collection.name, id } },
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

  // One point read per id (the engine has no multi-stream read).
  const getMany: DocumentStore.DocumentStoreShape["getMany"] = (collection, ids) =>
    Effect.flatMap(DocumentCodec.checkIds(collection.name, ids), (unique) =>
      Effect.map(
        Effect.forEach(unique, (id) => get(collection, id)),
        (found) => found.flatMap((document) => Option.isSome(document) ? [document.value] : [])
      ))

  // Every document's latest state read and checked, then one multi-stream append of every write,
  // each part pinned to the revision read: all or nothing on the server. A part moved by another
  // writer in between refuses the whole append; then the checks run again on what is stored now.
  const writeMany: DocumentStore.DocumentStoreShape["writeMany"] = (collection, writes) =>
    Effect.gen(function*() {
      const prepared = yield* DocumentCodec.prepareWrites(collection, writes, maxBytes)
      if (prepared.length === 0) return []
      for (let attempt = 0;; attempt++) {
        const states = yield* Effect.forEach(prepared, (write) => latest(collection.name, write.id))
        const versions: Array<bigint | undefined> = []
        const plans: Array<AppendPlan.AppendPlan> = []
        for (let i = 0; i < prepared.length; i++) {
          const { expected, id, json } = prepared[i]
          const state = states[i]
          const conflict = DocumentCodec.conflict(collection.name, id, expected, state.document?.version)
          if (conflict !== undefined) return yield* conflict
          const version = json === undefined ? undefined : (state.document?.version ?? 0n) + 1n
          versions.push(version)
          if (json === undefined && state.document === undefined) continue
          const event = json === undefined
            ? { type: deletedType, data: { collection: collection.name, id } }
            : { type: documentType, data: { collection: collection.name, id, version: version!.toString(), json } }
          plans.push({
            request: {
              stream: streamOf(collection.name, id),
              events: [event],
              expected: state.revision === undefined ? ExpectedVersion.noStream : ExpectedVersion.exact(state.revision)
            },
            prepared: [{ id: Event.makeEventId(), type: event.type, data: JSON.stringify(event.data), metadata: "{}" }]
          })
        }
        if (plans.length === 0) return versions
        const done = yield* events.appendPlans("writeMany", plans).pipe(
          Effect.as(true),
          Effect.catchTag("WrongExpectedVersion", (error) => attempt < 50 ? Effect.succeed(false) : Effect.fail(error)),
          Effect.catchIf(
            (error) => error._tag !== "StoreUnavailable",
            (error) => Effect.fail(new StoreError.StoreUnavailable({ operation: "writeMany", reason: String(error) }))
          )
        )
        if (done) return versions
      }
    })

  const { find, findPage, count } = Query.make(events)

  return { backend, get, getMany, put, writeMany, delete: remove, find, findPage, count }
}
