// The document statements both the document store and the append pipeline (a put that carries
// events) use: read a document's row, and write one as a single guarded statement; and the batch
// forms (`getMany`/`writeMany`): rows by ids, and set-based writes, one statement per kind of write.
import { type DocumentStore, StoreError } from "@strata/core"
import { DocumentCodec } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Rows from "../Rows.ts"
import type { StoreContext } from "./context.ts"

const decodeVersion = Rows.decodeFirst(Schema.Struct({ version: Rows.Int64 }))
const decodeRow = Rows.decodeFirst(Rows.DocumentRow)
const decodeRows = Rows.decodeAll(Rows.DocumentRow)
const decodeWritten = Rows.decodeAll(Schema.Struct({ id: Schema.String, version: Rows.Int64 }))
const decodeIds = Rows.decodeAll(Schema.Struct({ id: Schema.String }))

export const make = (ctx: StoreContext) => {
  const { dialect, sql } = ctx

  const documentRow = (collection: string, id: string) =>
    decodeRow(sql`SELECT id, version, data FROM strata_documents WHERE collection = ${collection} AND id = ${id}`)

  // Each document write is one guarded statement: atomic without a transaction.
  const writeDocument = (collection: string, id: string, json: string, expected: DocumentStore.ExpectedDocument) =>
    Effect.gen(function*() {
      const data = dialect.document(sql, json)
      const written = yield* decodeVersion(
        expected === "any"
          ? sql`INSERT INTO strata_documents (collection, id, version, data)
            VALUES (${collection}, ${id}, 1, ${data})
            ON CONFLICT (collection, id) DO UPDATE SET version = strata_documents.version + 1, data = excluded.data
            RETURNING version`
          : expected === "missing"
          ? sql`INSERT INTO strata_documents (collection, id, version, data)
            VALUES (${collection}, ${id}, 1, ${data}) ON CONFLICT (collection, id) DO NOTHING RETURNING version`
          : sql`UPDATE strata_documents SET version = version + 1, data = ${data}
            WHERE collection = ${collection} AND id = ${id} AND version = ${expected} RETURNING version`
      )
      if (written !== undefined) return written.version
      const row = yield* documentRow(collection, id)
      return yield* new StoreError.DocumentConflict({
        collection,
        id,
        expected: DocumentCodec.expectedLabel(expected),
        actual: row?.version
      })
    })

  // PostgreSQL takes a batch as a few array parameters (`unnest`, `= ANY`): one statement text
  // whatever the batch size, so the server parses and plans it once per connection instead of a
  // statement of thousands of parameters per batch. SQLite takes one JSON parameter instead (`json_each`).
  const arrays = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  const versionsOf = (writes: ReadonlyArray<DocumentCodec.PreparedWrite>) =>
    writes.map((w) => typeof w.expected === "bigint" ? String(w.expected) : null)

  /**
   * The stored rows among `ids` (any order), in one query. SQLite (and D1) take the ids as one JSON
   * parameter (`json_each`), as PostgreSQL takes an array: one statement text whatever the batch
   * size, prepared once, instead of a statement of `ids.length` parameters compiled and prepared
   * for each new size.
   */
  const documentRows = (collection: string, ids: ReadonlyArray<string>) =>
    decodeRows(
      arrays
        ? sql`SELECT id, version, data FROM strata_documents WHERE collection = ${collection} AND id = ANY(${ids}::text[])`
        : sql`SELECT id, version, data FROM strata_documents WHERE collection = ${collection} AND id IN (SELECT value FROM json_each(${
          JSON.stringify(ids)
        }))`
    )

  /**
   * A `writeMany` inside a transaction (the caller's): one set-based statement per kind of write
   * (insert of a missing document, update at a version, upsert, delete), each guarded in its own
   * WHERE/ON CONFLICT, so a write whose check fails is simply not among the rows it returns. Any
   * such write fails the whole call with the first one's `DocumentConflict` (the caller's
   * transaction then rolls everything back).
   */
  const writeMany = (collection: string, writes: ReadonlyArray<DocumentCodec.PreparedWrite>) =>
    Effect.gen(function*() {
      const versions = new Map<string, bigint>()
      const deleted = new Set<string>()
      const note = (rows: ReadonlyArray<{ readonly id: string; readonly version: bigint }>) => {
        for (const row of rows) versions.set(row.id, row.version)
      }
      const inserts = writes.filter((w) => w.json !== undefined && w.expected === "missing")
      const updates = writes.filter((w) => w.json !== undefined && typeof w.expected === "bigint")
      const upserts = writes.filter((w) => w.json !== undefined && w.expected === "any")
      const deletes = writes.filter((w) => w.json === undefined && w.expected !== "missing")
      const absent = writes.filter((w) => w.json === undefined && w.expected === "missing")
      if (arrays) {
        if (inserts.length > 0) {
          note(
            yield* decodeWritten(
              sql`INSERT INTO strata_documents (collection, id, version, data)
              SELECT ${collection}, u.id, 1, u.data FROM unnest(${inserts.map((w) => w.id)}::text[], ${
                inserts.map((w) => w.json!)
              }::jsonb[]) AS u (id, data)
              ON CONFLICT (collection, id) DO NOTHING RETURNING id, version`
            )
          )
        }
        if (updates.length > 0) {
          note(
            yield* decodeWritten(
              sql`UPDATE strata_documents SET version = strata_documents.version + 1, data = v.doc_data
              FROM unnest(${updates.map((w) => w.id)}::text[], ${versionsOf(updates)}::bigint[], ${
                updates.map((w) => w.json!)
              }::jsonb[]) AS v (doc_id, expected, doc_data)
              WHERE strata_documents.collection = ${collection} AND strata_documents.id = v.doc_id
              AND strata_documents.version = v.expected RETURNING id, version`
            )
          )
        }
        if (upserts.length > 0) {
          note(
            yield* decodeWritten(
              sql`INSERT INTO strata_documents (collection, id, version, data)
              SELECT ${collection}, u.id, 1, u.data FROM unnest(${upserts.map((w) => w.id)}::text[], ${
                upserts.map((w) => w.json!)
              }::jsonb[]) AS u (id, data)
              ON CONFLICT (collection, id) DO UPDATE SET version = strata_documents.version + 1, data = excluded.data
              RETURNING id, version`
            )
          )
        }
        if (deletes.length > 0) {
          const rows = yield* decodeIds(
            sql`DELETE FROM strata_documents USING unnest(${deletes.map((w) => w.id)}::text[], ${
              versionsOf(deletes)
            }::bigint[]) AS v (doc_id, expected)
            WHERE strata_documents.collection = ${collection} AND strata_documents.id = v.doc_id
            AND (v.expected IS NULL OR v.expected = strata_documents.version) RETURNING id`
          )
          for (const row of rows) deleted.add(row.id)
        }
      } else {
        // SQLite takes each kind of write as one JSON parameter of rows (`json_each`): one statement
        // text whatever the batch size (see `documentRows`). A version travels as a string (JSON has
        // no 64-bit integers) and is cast back; a document as the JSON text it was encoded to.
        const rows = (items: ReadonlyArray<ReadonlyArray<string | null>>) => JSON.stringify(items)
        const field = (index: number) => sql.literal(`json_extract(value, '$[${index}]')`)
        if (inserts.length > 0) {
          note(
            yield* decodeWritten(
              sql`INSERT INTO strata_documents (collection, id, version, data)
              SELECT ${collection}, ${field(0)}, 1, ${field(1)} FROM json_each(${
                rows(inserts.map((w) => [w.id, w.json!]))
              }) WHERE true ON CONFLICT (collection, id) DO NOTHING RETURNING id, version`
            )
          )
        }
        if (updates.length > 0) {
          note(
            yield* decodeWritten(
              sql`WITH v (doc_id, expected, doc_data) AS (SELECT ${field(0)}, CAST(${field(1)} AS INTEGER), ${
                field(2)
              } FROM json_each(${rows(updates.map((w) => [w.id, String(w.expected), w.json!]))}))
              UPDATE strata_documents SET version = strata_documents.version + 1, data = v.doc_data FROM v
              WHERE strata_documents.collection = ${collection} AND strata_documents.id = v.doc_id
              AND strata_documents.version = v.expected RETURNING id, version`
            )
          )
        }
        if (upserts.length > 0) {
          note(
            yield* decodeWritten(
              sql`INSERT INTO strata_documents (collection, id, version, data)
              SELECT ${collection}, ${field(0)}, 1, ${field(1)} FROM json_each(${
                rows(upserts.map((w) => [w.id, w.json!]))
              }) WHERE true
              ON CONFLICT (collection, id) DO UPDATE SET version = strata_documents.version + 1, data = excluded.data
              RETURNING id, version`
            )
          )
        }
        if (deletes.length > 0) {
          const gone = yield* decodeIds(
            sql`WITH v (doc_id, expected) AS (SELECT ${field(0)}, CAST(${field(1)} AS INTEGER) FROM json_each(${
              rows(deletes.map((w) => [w.id, typeof w.expected === "bigint" ? String(w.expected) : null]))
            })) DELETE FROM strata_documents WHERE collection = ${collection} AND EXISTS (SELECT 1 FROM v
            WHERE v.doc_id = strata_documents.id AND (v.expected IS NULL OR v.expected = strata_documents.version))
            RETURNING id`
          )
          for (const row of gone) deleted.add(row.id)
        }
      }
      const present = absent.length === 0
        ? new Set<string>()
        : new Set((yield* documentRows(collection, absent.map((w) => w.id))).map((row) => row.id))
      const failed = writes.find((w) =>
        w.json !== undefined
          ? !versions.has(w.id)
          : w.expected === "missing"
          ? present.has(w.id)
          : w.expected !== "any" && !deleted.has(w.id)
      )
      if (failed !== undefined) {
        // Nothing of the call was written to this document: the row read now is the one that failed it.
        const row = yield* documentRow(collection, failed.id)
        return yield* new StoreError.DocumentConflict({
          collection,
          id: failed.id,
          expected: DocumentCodec.expectedLabel(failed.expected),
          actual: row?.version
        })
      }
      return writes.map((w) => w.json === undefined ? undefined : versions.get(w.id))
    })

  // The collections whose declared indexes exist (created by the first write or query of each).
  const indexed = new Set<string>()

  return { documentRow, documentRows, writeDocument, writeMany, indexed }
}

export type DocumentWrites = ReturnType<typeof make>
