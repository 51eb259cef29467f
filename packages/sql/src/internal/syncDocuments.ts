// The documents an append's inline projections use on the synchronous path (`appendInline.ts`):
// `getMany` and `writeMany` as statements on the append's own connection, inside its write, each
// answering with an Exit (`Backend.SyncDocuments`). What they do not do synchronously (an asynchronous
// document schema, a collection whose declared indexes are not made yet, a database error) answers
// `undefined`: the append is rolled back and runs on the transactional path, which does all of it
// (and classifies database errors) as before.
import { type DocumentStore, StoreError } from "@strata/core"
import { type Backend, DocumentCodec } from "@strata/core/backend"
import * as Exit from "effect/Exit"
import type { SyncStatements } from "./appendContext.ts"
import type { StoreContext } from "./context.ts"
import type { DocumentWrites } from "./documentWrites.ts"

// Each statement text is fixed, so the connection prepares it once. SQLite's SQL: only SQLite has the
// synchronous path. The ids of a read bind as one JSON array; one id (an append to one stream) as
// itself, which SQLite reads in ~4 us against ~11 through json_each.
const selectMany =
  "SELECT id, version, data FROM strata_documents WHERE collection = ? AND id IN (SELECT value FROM json_each(?))"
const selectOne = "SELECT id, version, data FROM strata_documents WHERE collection = ? AND id = ?"
const selectVersion = "SELECT version FROM strata_documents WHERE collection = ? AND id = ?"
const insertMissing =
  "INSERT INTO strata_documents (collection, id, version, data) VALUES (?, ?, 1, ?) ON CONFLICT (collection, id) DO NOTHING RETURNING version"
const updateAt =
  "UPDATE strata_documents SET version = version + 1, data = ? WHERE collection = ? AND id = ? AND version = ? RETURNING version"
const upsert =
  "INSERT INTO strata_documents (collection, id, version, data) VALUES (?, ?, 1, ?) ON CONFLICT (collection, id) DO UPDATE SET version = strata_documents.version + 1, data = excluded.data RETURNING version"
const deleteAny = "DELETE FROM strata_documents WHERE collection = ? AND id = ? RETURNING version"
const deleteAt = "DELETE FROM strata_documents WHERE collection = ? AND id = ? AND version = ? RETURNING version"

// Runs `f`; a database error answers `undefined` (the transactional path meets it again, classified).
const guarded = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch {
    return undefined
  }
}

export const make = (ctx: StoreContext, writes: DocumentWrites, statements: SyncStatements): Backend.SyncDocuments => {
  const { dialect, maxEventBytes } = ctx
  const { all } = statements

  const getMany = <A, I>(
    collection: DocumentStore.Collection<A, I>,
    ids: ReadonlyArray<string>
  ):
    | Exit.Exit<ReadonlyArray<DocumentStore.Document<A>>, StoreError.InvalidDocument | StoreError.InvalidArgument>
    | undefined =>
  {
    const checked = DocumentCodec.checkIdsSync(collection.name, ids)
    if (Exit.isFailure(checked)) return Exit.failCause(checked.cause)
    const unique = checked.value
    if (unique.length === 0) return Exit.succeed([])
    const rows = guarded(() =>
      unique.length === 1
        ? all(selectOne, [collection.name, unique[0]])
        : all(selectMany, [collection.name, JSON.stringify(unique)])
    )
    if (rows === undefined) return undefined
    // In the order of `ids`, each stored document once.
    const byId = new Map<string, Record<string, unknown>>()
    if (unique.length > 1) { for (const row of rows) byId.set(row.id as string, row) }
    const found: Array<DocumentStore.Document<A>> = []
    for (const id of unique) {
      const row = unique.length === 1 ? rows[0] : byId.get(id)
      if (row === undefined) continue
      const decoded = DocumentCodec.decodeSync(collection, id, row.version as bigint, dialect.decodeJson(row.data))
      if (decoded === undefined) return undefined
      if (Exit.isFailure(decoded)) return Exit.failCause(decoded.cause)
      found.push(decoded.value)
    }
    return Exit.succeed(found)
  }

  // One guarded statement per write: its new version, `undefined` for a delete, `null` when its
  // expectation failed.
  const writeOne = (collection: string, write: DocumentCodec.PreparedWrite): bigint | undefined | null => {
    const { expected, id, json } = write
    if (json === undefined) {
      if (expected === "missing") return all(selectVersion, [collection, id]).length === 0 ? undefined : null
      if (expected === "any") {
        all(deleteAny, [collection, id])
        return undefined
      }
      return all(deleteAt, [collection, id, expected]).length > 0 ? undefined : null
    }
    const [row] = expected === "missing"
      ? all(insertMissing, [collection, id, json])
      : expected === "any"
      ? all(upsert, [collection, id, json])
      : all(updateAt, [json, collection, id, expected])
    return row === undefined ? null : row.version as bigint
  }

  // Several writes inside a savepoint, so a conflict leaves none of them (as the transactional
  // `writeMany` does); the first whose expectation failed is the DocumentConflict.
  const writeAll = (
    collection: string,
    prepared: ReadonlyArray<DocumentCodec.PreparedWrite>
  ): Exit.Exit<ReadonlyArray<bigint | undefined>, StoreError.DocumentConflict> => {
    const several = prepared.length > 1
    if (several) all("SAVEPOINT strata_documents", [])
    const versions: Array<bigint | undefined> = []
    for (const write of prepared) {
      const version = writeOne(collection, write)
      if (version !== null) {
        versions.push(version)
        continue
      }
      if (several) {
        all("ROLLBACK TO strata_documents", [])
        all("RELEASE strata_documents", [])
      }
      const [row] = all(selectVersion, [collection, write.id])
      const actual = row === undefined ? undefined : row.version as bigint
      return Exit.fail(
        DocumentCodec.conflict(collection, write.id, write.expected, actual) ??
          new StoreError.DocumentConflict({
            collection,
            id: write.id,
            expected: DocumentCodec.expectedLabel(write.expected),
            ...(actual === undefined ? {} : { actual })
          })
      )
    }
    if (several) all("RELEASE strata_documents", [])
    return Exit.succeed(versions)
  }

  const writeMany = <A, I>(
    collection: DocumentStore.Collection<A, I>,
    input: ReadonlyArray<DocumentStore.DocumentWrite<A>>
  ):
    | Exit.Exit<
      ReadonlyArray<bigint | undefined>,
      StoreError.DocumentConflict | StoreError.InvalidDocument | StoreError.InvalidArgument
    >
    | undefined =>
  {
    const prepared = DocumentCodec.prepareWritesSync(collection, input, maxEventBytes)
    if (prepared === undefined) return undefined
    if (Exit.isFailure(prepared)) return Exit.failCause(prepared.cause)
    if (prepared.value.length === 0) return Exit.succeed([])
    // The first write of a collection with declared indexes makes them: on the transactional path.
    if (collection.indexes.length > 0 && !writes.indexed.has(collection.name)) return undefined
    return guarded(() => writeAll(collection.name, prepared.value))
  }

  return { getMany, writeMany }
}
