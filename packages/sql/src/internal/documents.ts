// The SQL DocumentStore: typed collections in one `strata_documents` table, declared indexes as
// expression indexes, queries compiled by DocumentSql, and puts that carry events written in the
// same transaction (or batch) as the append; a repeated put with events answers its original result
// (judged in `replays.ts`).
import { DocumentQuery, type DocumentStore, StoreError } from "@strata/core"
import { AppendPlan, DocumentCodec } from "@strata/core/backend"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Batched } from "../Dialect.ts"
import * as DocumentSql from "../DocumentSql.ts"
import * as Rows from "../Rows.ts"
import type { Appender } from "./append.ts"
import type { StoreContext } from "./context.ts"
import type { DocumentWrites } from "./documentWrites.ts"
import { judgePut } from "./replays.ts"

const decodeRows = Rows.decodeAll(Rows.DocumentRow)
type DocumentRow = typeof Rows.DocumentRow.Type
const decodeVersions = Rows.decodeAll(Schema.Struct({ version: Rows.Int64 }))
const decodeTotal = Rows.decodeFirst(Schema.Struct({ total: Rows.Int64 }))

export const make = (
  ctx: StoreContext,
  writes: DocumentWrites,
  appender: Appender,
  options: { readonly readOnly: boolean } = { readOnly: false }
) => {
  const { dialect, maxEventBytes, sql, unavailable } = ctx

  const { indexed } = writes
  const ensureIndexes = <A, I>(collection: DocumentStore.Collection<A, I>) =>
    Effect.suspend(() => {
      // A read-only server (a hot standby) refuses CREATE INDEX; the primary's writes create them.
      if (options.readOnly || indexed.has(collection.name)) return Effect.void
      const statements = collection.indexes.flatMap((index) => {
        const fields = index.fields.filter((field) => DocumentQuery.fieldPathPattern.test(field))
        if (fields.length === 0 || fields.length !== index.fields.length) return []
        const expressions = fields.flatMap((field) => dialect.field(field.split(".")).indexed)
        const name = `strata_doc_${collection.name}_${fields.join("_").replace(/\./g, "_")}`.slice(0, 63)
        return [dialect.createIndex(collection.name, name, expressions)]
      })
      return Effect.forEach(statements, (statement) => sql.unsafe(statement), { discard: true }).pipe(
        Effect.tap(() => Effect.sync(() => indexed.add(collection.name))),
        Effect.withTracerEnabled(false)
      )
    })

  // A query is one statement, and each compared value one parameter: refuse, with a typed error, a
  // query that would bind more than the database allows (D1: 100) instead of failing in the driver.
  const fitsOneStatement = (collection: string, query: DocumentQuery.NormalizedQuery) => {
    const values = query.predicates.reduce(
      (sum, predicate) => sum + (Array.isArray(predicate.value) ? predicate.value.length : 2),
      0
    )
    // The collection, the cursor (3 per sort key, plus the id, in as many alternatives) and the limit.
    const keyset = query.after === undefined ? 0 : (3 * query.orderBy.length + 1) ** 2
    const budget = dialect.maxParams - 2 - keyset
    return values <= budget
      ? Effect.succeed(query)
      : Effect.fail(
        new StoreError.InvalidQuery({
          collection,
          detail:
            `the query compares ${values} values; the ${ctx.backend} backend binds at most ${budget} in one query: split the \`in\` list over several queries`
        })
      )
  }

  const get: DocumentStore.DocumentStoreShape["get"] = (collection, id) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const row = yield* writes.documentRow(collection.name, id).pipe(Effect.catchTag("SqlError", unavailable("get")))
      return row === undefined
        ? Option.none()
        : Option.some(yield* DocumentCodec.decode(collection, id, row.version, dialect.decodeJson(row.data)))
    })

  const put: DocumentStore.DocumentStoreShape["put"] = (collection, id, value, putOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = yield* DocumentCodec.expected(putOptions?.expected)
      const json = yield* DocumentCodec.encode(collection, id, value, maxEventBytes)
      const requests = putOptions?.events ?? []
      yield* ensureIndexes(collection).pipe(Effect.catchTag("SqlError", unavailable("put")))
      if (requests.length === 0) {
        const version = yield* writes.writeDocument(collection.name, id, json, expected).pipe(
          Effect.catchTag("SqlError", unavailable("put"))
        )
        return { version, appended: [] }
      }
      const plans = yield* AppendPlan.many("put", requests, maxEventBytes)
      const now = yield* Clock.currentTimeMillis
      const document = { collection: collection.name, id, json, expected }
      // A failure may be a repeat of this very put (core's Replay rule): judged on the failure path only.
      const written = yield* appender.atomically(plans, now, document).pipe(
        Effect.catch((error) =>
          judgePut(ctx, writes, plans, document, error, (fresh) => appender.atomically(fresh, now, document))
        )
      )
      return { version: written.documentVersion!, appended: written.results }
    })

  // `getMany` and `writeMany` are plain `flatMap`s, not `Effect.gen`: they run once per projection
  // batch, and a generator per call (its frame holding the batch's ids, rows and documents) stayed
  // reachable across scavenges (see `Projection.handleBatch`); fewer Effect steps on an inline append too.
  const getMany: DocumentStore.DocumentStoreShape["getMany"] = (collection, ids) =>
    Effect.flatMap(DocumentCodec.checkIds(collection.name, ids), (unique) =>
      unique.length === 0
        ? Effect.succeed([])
        : writes.documentRows(collection.name, unique).pipe(
          Effect.catchTag("SqlError", unavailable("getMany")),
          Effect.flatMap((rows) => {
            // In the order of `ids`, each stored document once.
            const byId = new Map<string, DocumentRow>()
            for (const row of rows) byId.set(row.id, row)
            const found: Array<DocumentRow> = []
            for (const id of unique) {
              const row = byId.get(id)
              if (row !== undefined) found.push(row)
            }
            return Effect.forEach(
              found,
              (row) => DocumentCodec.decode(collection, row.id, row.version, dialect.decodeJson(row.data))
            )
          })
        ))

  const writeMany: DocumentStore.DocumentStoreShape["writeMany"] = (collection, input) =>
    Effect.flatMap(DocumentCodec.prepareWrites(collection, input, maxEventBytes), (prepared) => {
      if (prepared.length === 0) return Effect.succeed([])
      const write = dialect.write
      const indexes = ensureIndexes(collection).pipe(Effect.catchTag("SqlError", unavailable("writeMany")))
      if (write._tag === "Transactional") {
        // One write is one guarded single-row statement, atomic alone: no transaction (inside an
        // append's or a consumer's, a savepoint would cost two more round trips).
        const statements = writes.writeMany(collection.name, prepared)
        return Effect.andThen(
          indexes,
          (prepared.length === 1 ? statements : ctx.transaction("writeMany", statements)).pipe(
            Effect.catchTag("SqlError", unavailable("writeMany"))
          )
        )
      }
      return Effect.andThen(indexes, batchWrite(collection.name, write, prepared))
    })

  // A dialect without interactive transactions (D1): one atomic batch whose guards abort it as a
  // whole; then re-read to name the first conflict.
  const batchWrite = (
    collection: string,
    write: Batched,
    prepared: ReadonlyArray<DocumentCodec.PreparedWrite>
  ) =>
    Effect.gen(function*() {
      const outcome = yield* write.writeDocuments(sql, { collection: collection, writes: prepared }).pipe(
        Effect.catchTag("SqlError", unavailable("writeMany"))
      )
      if (outcome._tag === "Ok") return outcome.versions
      const rows = yield* writes.documentRows(collection, prepared.map((w) => w.id)).pipe(
        Effect.catchTag("SqlError", unavailable("writeMany"))
      )
      const actual = new Map(rows.map((row) => [row.id, row.version]))
      for (const w of prepared) {
        const conflict = DocumentCodec.conflict(collection, w.id, w.expected, actual.get(w.id))
        if (conflict !== undefined) return yield* conflict
      }
      // The guard failed, and the re-read passes: another writer moved a document in between.
      return yield* new StoreError.StoreUnavailable({ operation: "writeMany", reason: "ConcurrentWrite" })
    })

  const remove: DocumentStore.DocumentStoreShape["delete"] = (collection, id, deleteOptions) =>
    Effect.gen(function*() {
      yield* DocumentCodec.checkId(collection.name, id)
      const expected = deleteOptions?.expected ?? "any"
      if (expected === "missing") {
        const row = yield* writes.documentRow(collection.name, id)
        if (row === undefined) return false
        return yield* new StoreError.DocumentConflict({
          collection: collection.name,
          id,
          expected: "missing",
          actual: row.version
        })
      }
      const deleted = yield* decodeVersions(
        sql`DELETE FROM strata_documents WHERE collection = ${collection.name} AND id = ${id} ${
          expected === "any" ? sql.literal("") : sql`AND version = ${expected}`
        } RETURNING version`
      )
      if (deleted.length > 0) return true
      if (expected === "any") return false
      const row = yield* writes.documentRow(collection.name, id)
      return yield* new StoreError.DocumentConflict({
        collection: collection.name,
        id,
        expected: DocumentCodec.expectedLabel(expected),
        actual: row?.version
      })
    }).pipe(Effect.catchTag("SqlError", unavailable("delete")))

  const findPage: DocumentStore.DocumentStoreShape["findPage"] = (collection, query) =>
    Effect.gen(function*() {
      const normalized = yield* fitsOneStatement(
        collection.name,
        yield* DocumentQuery.normalize(collection.name, query)
      )
      yield* ensureIndexes(collection).pipe(Effect.catchTag("SqlError", unavailable("findPage")))
      const size = normalized.limit ?? 100
      const found = yield* decodeRows(
        sql`SELECT id, version, data FROM strata_documents WHERE ${
          DocumentSql.where(sql, dialect, collection.name, normalized)
        } AND ${DocumentSql.after(sql, dialect, normalized)}
        ORDER BY ${sql.literal(DocumentSql.orderBy(dialect, normalized))} LIMIT ${size + 1}`
      ).pipe(Effect.catchTag("SqlError", unavailable("findPage")))
      const page = found.slice(0, size).map((row) => ({ ...row, data: dialect.decodeJson(row.data) }))
      const documents = yield* Effect.forEach(
        page,
        (row) => DocumentCodec.decode(collection, row.id, row.version, row.data)
      )
      const last = page[page.length - 1]
      const cursor = found.length > size && last !== undefined
        ? Option.some(
          DocumentQuery.encodeCursor(normalized.fingerprint, {
            values: DocumentQuery.sortValues(last.data, normalized),
            id: last.id
          })
        )
        : Option.none()
      return { documents, cursor }
    })

  const find: DocumentStore.DocumentStoreShape["find"] = (collection, query) =>
    DocumentQuery.pages(collection, query, ctx.pageSize, findPage)

  const count: DocumentStore.DocumentStoreShape["count"] = (collection, query) =>
    Effect.gen(function*() {
      const normalized = yield* fitsOneStatement(
        collection.name,
        yield* DocumentQuery.normalize(collection.name, { where: query?.where })
      )
      const row = yield* decodeTotal(
        sql`SELECT count(*) AS total FROM strata_documents WHERE ${
          DocumentSql.where(sql, dialect, collection.name, normalized)
        }`
      ).pipe(Effect.catchTag("SqlError", unavailable("count")))
      return Number(row?.total ?? 0)
    })

  return { get, getMany, put, writeMany, delete: remove, find, findPage, count }
}
