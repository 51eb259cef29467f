// The in-memory backend's DocumentStore over the shared state; a put that carries events commits
// them through the events part in the same synchronous step as the document, and a put whose events
// are all stored already is judged by core's Replay rule (the same write answers its original result).
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as AppendPlan from "../../backend/AppendPlan.ts"
import * as DocumentCodec from "../../backend/DocumentCodec.ts"
import * as Replay from "../../backend/Replay.ts"
import * as DocumentQuery from "../../DocumentQuery.ts"
import { type Collection, DocumentStore, type ExpectedDocument, type Page, type Query } from "../../DocumentStore.ts"
import type { DocumentConflict, DuplicateEvent } from "../../StoreError.ts"
import type * as Events from "./events.ts"
import * as State from "./state.ts"
import type { StoredDocument } from "./state.ts"

// Undoes one document write of a rolled-back unit of work, unless another write replaced it since.
const restore = (
  stored: Map<string, StoredDocument>,
  id: string,
  written: StoredDocument | undefined,
  previous: StoredDocument | undefined
) => {
  if (stored.get(id) !== written) return
  if (previous === undefined) stored.delete(id)
  else stored.set(id, previous)
}

export const make = (
  state: State.State,
  events: Pick<ReturnType<typeof Events.make>, "commit" | "transaction">,
  options: { readonly maxEventBytes: number; readonly pageSize: number }
) => {
  const { commit, transaction } = events
  const backend = "memory"
  const { maxEventBytes, pageSize } = options
  const { documents } = state

  const decodeDocument = <A, I>(collection: Collection<A, I>, id: string, stored: StoredDocument) =>
    DocumentCodec.decode(collection, id, stored.version, stored.encoded)

  // The shared codec, so memory accepts and refuses exactly the documents the SQL backends do.
  const encodeDocument = <A, I>(collection: Collection<A, I>, id: string, value: A) =>
    DocumentCodec.encode(collection, id, value, maxEventBytes)

  const checkExpected = (
    collection: string,
    id: string,
    expected: ExpectedDocument | undefined,
    current: StoredDocument | undefined
  ) => DocumentCodec.conflict(collection, id, expected ?? "any", current?.version)

  const documentsOf = (name: string) => {
    let collection = documents.get(name)
    if (collection === undefined) {
      collection = new Map()
      documents.set(name, collection)
    }
    return collection
  }

  const get: DocumentStore["Service"]["get"] = (collection, id) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const stored = documents.get(collection.name)?.get(id)
      return stored === undefined ? Option.none() : Option.some(yield* decodeDocument(collection, id, stored))
    })

  const put: DocumentStore["Service"]["put"] = (collection, id, value, putOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = yield* DocumentCodec.expected(putOptions?.expected)
      const json = yield* encodeDocument(collection, id, value)
      const requests = putOptions?.events ?? []
      const plans = requests.length === 0 ? [] : yield* AppendPlan.many("put", requests, maxEventBytes)
      const now = yield* Clock.currentTimeMillis
      // Checked and written in one unit of work (under the writer lock): events and document commit
      // together, the event checks first. They passed (no duplicate, no conflict), and nothing is
      // written yet: when every event part is a replay, the put is one too if the document is the
      // one it wrote (then nothing is written), and otherwise its ids belong to another write.
      const store = (journal: State.Journal | undefined) =>
        Effect.suspend((): Effect.Effect<bigint, DocumentConflict | DuplicateEvent> => {
          const current = documents.get(collection.name)?.get(id)
          if (plans.length > 0) {
            const parts = Replay.partsOf(plans)
            const outcome = Replay.classifyPut(
              parts,
              plans.map((plan) => Replay.classifyPlan(plan, (eventId) => state.eventIds.get(eventId)))
            )
            if (outcome._tag === "Stored") {
              const original = Replay.sameDocument({ expected, json }, current)
              return original === undefined ? Effect.fail(Replay.notTheSameWrite(parts)) : Effect.succeed(original)
            }
          }
          const conflict = checkExpected(collection.name, id, expected, current)
          if (conflict !== undefined) return Effect.fail(conflict)
          const version = (current?.version ?? 0n) + 1n
          const written = { version, json, encoded: JSON.parse(json) }
          const stored = documentsOf(collection.name)
          stored.set(id, written)
          journal?.push(() => restore(stored, id, written, current))
          return Effect.succeed(version)
        })
      if (plans.length === 0) {
        return { version: yield* transaction(Effect.flatMap(state.journal, store)), appended: [] }
      }
      let version = 0n
      const appended = yield* commit(plans, now, (journal) =>
        Effect.map(store(journal), (v) => {
          version = v
        }))
      return { version, appended }
    })

  const remove: DocumentStore["Service"]["delete"] = (collection, id, deleteOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      return yield* transaction(Effect.gen(function*() {
        const current = documents.get(collection.name)?.get(id)
        const conflict = checkExpected(collection.name, id, deleteOptions?.expected, current)
        if (conflict !== undefined) return yield* conflict
        const stored = documents.get(collection.name)
        if (stored === undefined || current === undefined) return false
        stored.delete(id)
        ;(yield* state.journal)?.push(() => restore(stored, id, undefined, current))
        return true
      }))
    })

  const getMany: DocumentStore["Service"]["getMany"] = (collection, ids) =>
    Effect.flatMap(DocumentCodec.checkIds(collection.name, ids), (unique) => {
      const stored = documents.get(collection.name)
      const found: Array<{ id: string; stored: StoredDocument }> = []
      for (const id of unique) {
        const document = stored?.get(id)
        if (document !== undefined) found.push({ id, stored: document })
      }
      return Effect.forEach(found, (row) => decodeDocument(collection, row.id, row.stored))
    })

  // Every check first, then every write, in one synchronous step of one unit of work: all or nothing.
  const writeMany: DocumentStore["Service"]["writeMany"] = (collection, writes) =>
    Effect.flatMap(
      DocumentCodec.prepareWrites(collection, writes, maxEventBytes),
      (prepared) =>
        prepared.length === 0 ? Effect.succeed([]) : transaction(Effect.gen(function*() {
          const stored = documentsOf(collection.name)
          for (const write of prepared) {
            const conflict = checkExpected(collection.name, write.id, write.expected, stored.get(write.id))
            if (conflict !== undefined) return yield* conflict
          }
          const journal = yield* state.journal
          return prepared.map((write) => {
            const current = stored.get(write.id)
            if (write.json === undefined) {
              if (current !== undefined) {
                stored.delete(write.id)
                journal?.push(() => restore(stored, write.id, undefined, current))
              }
              return undefined
            }
            const version = (current?.version ?? 0n) + 1n
            const written = { version, json: write.json, encoded: JSON.parse(write.json) }
            stored.set(write.id, written)
            journal?.push(() => restore(stored, write.id, written, current))
            return version
          })
        }))
    )

  const matching = (collection: string, query: DocumentQuery.NormalizedQuery) => {
    const found: Array<{ id: string; stored: StoredDocument; key: DocumentQuery.CursorPosition }> = []
    for (const [id, stored] of documents.get(collection) ?? []) {
      if (!DocumentQuery.matches(stored.encoded, query)) continue
      const key = { values: DocumentQuery.sortValues(stored.encoded, query), id }
      if (query.after !== undefined && DocumentQuery.compareKeys(query, key, query.after) <= 0) continue
      found.push({ id, stored, key })
    }
    return found.sort((a, b) => DocumentQuery.compareKeys(query, a.key, b.key))
  }

  const findPage = <A, I>(collection: Collection<A, I>, query?: Query) =>
    Effect.gen(function*() {
      const normalized = yield* DocumentQuery.normalize(collection.name, query)
      const size = normalized.limit ?? 100
      const rows = matching(collection.name, normalized)
      const page = rows.slice(0, size)
      const documents = yield* Effect.forEach(page, (row) => decodeDocument(collection, row.id, row.stored))
      const last = page[page.length - 1]
      const cursor = rows.length > size && last !== undefined
        ? Option.some(DocumentQuery.encodeCursor(normalized.fingerprint, last.key))
        : Option.none()
      return { documents, cursor } satisfies Page<A>
    })

  const find: DocumentStore["Service"]["find"] = (collection, query) =>
    DocumentQuery.pages(collection, query, pageSize, findPage)

  const count: DocumentStore["Service"]["count"] = (collection, query) =>
    Effect.map(
      DocumentQuery.normalize(collection.name, { where: query?.where }),
      (normalized) => matching(collection.name, normalized).length
    )

  const documentStore = DocumentStore.of({
    backend,
    get,
    getMany,
    put,
    writeMany,
    delete: remove,
    find,
    findPage,
    count
  })

  return documentStore
}
