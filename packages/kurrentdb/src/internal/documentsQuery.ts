// The DocumentStore's queries (`find`, `findPage`, `count`): one filtered scan of `$all` (stream
// prefix `$strata-doc-<collection>-`) that folds every version of every document ever written to the
// collection, then matches and sorts in memory. That is O(history of the collection) per query;
// declared indexes are accepted and do not accelerate it.
import { STREAM_NAME } from "@kurrent/kurrentdb-client"
import { DocumentQuery, type DocumentStore } from "@strata/core"
import { DocumentCodec } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { KurrentEvents } from "../KurrentEvents.ts"
import { deletedType, type DocumentData, prefixOf, type Stored, storedOf } from "./documentsStreams.ts"

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

export const make = (events: KurrentEvents) => {
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
              else {
                const document = storedOf(event.type, data)
                if (document !== undefined) current.set(data.id, document)
              }
            })
          )
        )
      return current
    })

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

  return { find, findPage, count }
}
