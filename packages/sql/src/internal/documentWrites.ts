// The document statements both the document store and the append pipeline (a put that carries
// events) use: read a document's row, and write one as a single guarded statement.
import { type DocumentStore, StoreError } from "@strata/core"
import { DocumentCodec } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Rows from "../Rows.ts"
import type { StoreContext } from "./context.ts"

const decodeVersion = Rows.decodeFirst(Schema.Struct({ version: Rows.Int64 }))
const decodeRow = Rows.decodeFirst(Rows.DocumentRow)

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

  return { documentRow, writeDocument }
}

export type DocumentWrites = ReturnType<typeof make>
