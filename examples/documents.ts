// The document-query guide's examples (docs/documents.md quotes each region between `// #region`
// and `// #endregion`; examples/test/documents.test.ts runs them on memory and SQLite and checks
// every value the guide states).
import { DocumentStore, EventStore, ExpectedVersion, StoreError } from "@strata/strata"
import { Effect, Option, Schema, Stream } from "effect"

// #region collections
// A collection: a name, a Schema for its documents, and the field paths queries filter or sort on.
const Order = Schema.Struct({
  customer: Schema.String,
  status: Schema.Literals(["open", "paid", "shipped"]),
  total: Schema.Finite,
  address: Schema.Struct({ city: Schema.String, zip: Schema.NullOr(Schema.String) }),
  note: Schema.optional(Schema.String)
})
type Order = typeof Order.Type

export const Orders = DocumentStore.collection("orders", Order, {
  indexes: ["customer", ["status", "total"], "address.city"]
})
// #endregion collections

// #region writes
export const writes = Effect.gen(function*() {
  const docs = yield* DocumentStore.DocumentStore
  const order: Order = {
    customer: "ada",
    status: "open",
    total: 40,
    address: { city: "London", zip: "N1" }
  }

  // The first put creates version 1; each later put adds one.
  const created = yield* docs.put(Orders, "o-1", order, { expected: "missing" })
  const paid = yield* docs.put(Orders, "o-1", { ...order, status: "paid" }, { expected: created.version })

  // A stale expected version, or "missing" for a document that exists, is a DocumentConflict.
  const stale = yield* Effect.flip(docs.put(Orders, "o-1", order, { expected: 1n }))

  // get: Option.none() for a missing document.
  const read = yield* docs.get(Orders, "o-1")
  const missing = yield* docs.get(Orders, "o-404")

  // update: read, compute, write with the version read; retried on a concurrent write.
  const updated = yield* DocumentStore.update(
    Orders,
    "o-1",
    (current) => current === undefined ? DocumentStore.Delete : { ...current, status: "shipped" as const }
  )

  // delete: true when there was a document; `expected` guards it like a put.
  const deleted = yield* docs.delete(Orders, "o-1", { expected: 3n })
  const deletedAgain = yield* docs.delete(Orders, "o-1")
  // After a delete the id starts again at version 1.
  const recreated = yield* docs.put(Orders, "o-1", order, { expected: "missing" })

  return {
    versions: [created.version, paid.version, Option.map(updated, (d) => d.version), recreated.version],
    stale: stale instanceof StoreError.DocumentConflict ? stale._tag : "unexpected",
    status: Option.map(read, (d) => d.value.status),
    missing: Option.isNone(missing),
    deleted: [deleted, deletedAgain]
  }
})
// #endregion writes

// #region seed
// Seven orders to query.
export const seed = Effect.gen(function*() {
  const docs = yield* DocumentStore.DocumentStore
  const order = (customer: string, status: Order["status"], total: number, city: string, zip: string | null) => ({
    customer,
    status,
    total,
    address: { city, zip }
  })
  yield* docs.put(Orders, "o-1", order("ada", "open", 40, "London", "N1"))
  yield* docs.put(Orders, "o-2", order("alan", "paid", 120, "Manchester", null))
  yield* docs.put(Orders, "o-3", order("ada", "paid", 75.5, "London", "EC1"))
  yield* docs.put(Orders, "o-4", order("grace", "shipped", 15, "Arlington", "22201"))
  yield* docs.put(Orders, "o-5", { ...order("alan", "open", 300, "Wilmslow", null), note: "gift" })
  yield* docs.put(Orders, "o-6", order("barbara", "shipped", 120, "London", "SW1"))
  yield* docs.put(Orders, "o-7", order("Ada", "paid", 9.99, "Paris", null))
})
// #endregion seed

// #region where
const ids = (query: DocumentStore.Query) =>
  Effect.flatMap(DocumentStore.DocumentStore, (docs) =>
    Stream.runCollect(docs.find(Orders, query)).pipe(
      Effect.map((found) => found.map((document) => document.id))
    ))

export const where = Effect.all({
  // A bare value means eq. Strings match exactly (case-sensitive), and values are typed:
  // "120" never equals 120, true never equals 1.
  ada: ids({ where: { customer: "ada" } }),
  paid: ids({ where: { status: { eq: "paid" } } }),
  notPaid: ids({ where: { status: { ne: "paid" } } }),
  // Ranges: gt, gte, lt, lte on numbers (numerically) or strings (by code point). A range
  // matches only values of its operand's type, never null or a missing field.
  between: ids({ where: { total: { gte: 40, lt: 120 } } }),
  citiesBeforeM: ids({ where: { "address.city": { lt: "M" } } }),
  // in: any of up to 1,000 values.
  alanOrGrace: ids({ where: { customer: { in: ["alan", "grace"] } } }),
  // null: eq null (and in [null]) match null and missing fields; ne null matches the others.
  noZip: ids({ where: { "address.zip": null } }),
  noNote: ids({ where: { note: { eq: null } } }),
  withNote: ids({ where: { note: { ne: null } } }),
  // Several fields: all must match.
  paidInLondon: ids({ where: { status: "paid", "address.city": "London" } })
})
// #endregion where

// #region order
export const order = Effect.gen(function*() {
  const docs = yield* DocumentStore.DocumentStore
  // Without orderBy, documents come in id order. With it, ties are broken by id (ascending, also
  // when the field sorts descending); missing and null values sort first ascending, last descending.
  const byTotal = yield* ids({ orderBy: [{ field: "total", direction: "desc" }] })
  const byStatusThenTotal = yield* ids({ orderBy: [{ field: "status" }, { field: "total" }] })
  // limit: the first n in query order.
  const topTwo = yield* ids({ orderBy: [{ field: "total", direction: "desc" }], limit: 2 })
  // count: the number of matches (no orderBy or limit).
  const paid = yield* docs.count(Orders, { where: { status: "paid" } })
  const all = yield* docs.count(Orders)
  return { byTotal, byStatusThenTotal, topTwo, paid, all }
})
// #endregion order

// #region pages
export const pages = Effect.gen(function*() {
  const docs = yield* DocumentStore.DocumentStore
  const query: DocumentStore.Query = { orderBy: [{ field: "total" }], limit: 3 }
  // findPage: one page (at most `limit`, 100 by default) and a cursor while more may follow.
  const walked: Array<Array<string>> = []
  let page = yield* docs.findPage(Orders, query)
  walked.push(page.documents.map((d) => d.id))
  while (Option.isSome(page.cursor)) {
    page = yield* docs.findPage(Orders, { ...query, cursor: page.cursor.value })
    walked.push(page.documents.map((d) => d.id))
  }
  // A cursor belongs to its query (where and orderBy; the page size may change), and find can
  // continue from it.
  const first = yield* docs.findPage(Orders, query)
  const rest = yield* Stream.runCollect(
    docs.find(Orders, { orderBy: query.orderBy, cursor: Option.getOrThrow(first.cursor) })
  )
  const otherQuery = yield* Effect.flip(
    docs.findPage(Orders, { orderBy: [{ field: "customer" }], cursor: Option.getOrThrow(first.cursor) })
  )
  return { walked, rest: rest.map((d) => d.id), otherQuery: otherQuery._tag }
})
// #endregion pages

// #region events
export const withEvents = Effect.gen(function*() {
  const docs = yield* DocumentStore.DocumentStore
  const store = yield* EventStore.EventStore
  // A put may carry events: they are appended and the document written in one atomic step
  // (a transaction on SQL, one batch on D1, one multi-stream append on KurrentDB).
  const result = yield* docs.put(Orders, "o-8", {
    customer: "edsger",
    status: "open",
    total: 64,
    address: { city: "Austin", zip: null }
  }, {
    expected: "missing",
    events: [{
      stream: "order-o-8",
      events: [{ type: "OrderPlaced", data: { total: 64 } }],
      expected: ExpectedVersion.noStream
    }]
  })
  // In a new store this is the first event: version 0 of its stream, at global position 1 (memory,
  // SQLite, PostgreSQL and D1; KurrentDB's positions are the server's commit positions).
  const [appended] = result.appended
  const [event] = yield* Stream.runCollect(store.read("order-o-8"))
  return {
    version: result.version,
    nextExpectedVersion: appended.nextExpectedVersion,
    position: appended.position,
    event: { type: event.type, version: event.version, position: event.position }
  }
})
// #endregion events
