/**
 * DocumentStore queries: `where` operators and their typed, null-aware semantics, ordering, limits,
 * keyset cursors, `count`, and the refusal of anything that is not a plain query.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentQuery, DocumentStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { hostileStrings } from "./inputSuite.ts"
import { failsWith, names, streamFailsWith } from "./internal/fixtures.ts"
import type { ConformanceIt, SuiteOptions } from "./SuiteOptions.ts"

type Collection = DocumentStore.Collection<unknown, unknown>

const json = (name: string): Collection => DocumentStore.collection(name, Schema.Unknown)

/** People with the awkward cases: a string age, a null age, a missing age, a null address, case-varied cities. */
const people: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ["p1", { name: "Ada", age: 36, active: true, address: { city: "London", zip: "N1" }, score: 7 }],
  ["p2", { name: "Bob", age: 30, active: false, address: { city: "Paris" }, score: 7 }],
  ["p3", { name: "Cy", age: "30", active: true, address: { city: "paris" }, score: 3 }],
  ["p4", { name: "Dee", age: null, active: true, address: null, score: 9 }],
  ["p5", { name: "Eve", active: false, address: { city: "Berlin" }, score: 3 }],
  ["p6", { name: "Fay", age: 45.5, active: true, address: { city: "London" }, score: 7 }],
  ["p7", { name: "gus", age: 30, active: true, address: { city: "Zürich" }, score: 1 }]
]

const seedPeople = Effect.gen(function*() {
  const docs = yield* DocumentStore.DocumentStore
  const c = json(names().collection("people"))
  for (const [id, value] of people) yield* docs.put(c, id, value)
  return c
})

/** The ids `find` returns for `query`, in order. */
const ids = (c: Collection, query?: DocumentStore.Query) =>
  Effect.flatMap(
    DocumentStore.DocumentStore,
    (docs) => Effect.map(Stream.runCollect(docs.find(c, query)), (found) => found.map((d) => d.id))
  )

/** Asserts `where` selects exactly `expected` (ids, in id order), through find and count. */
const selects = (c: Collection, where: DocumentStore.Where, expected: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const docs = yield* DocumentStore.DocumentStore
    assert.deepStrictEqual(yield* ids(c, { where }), [...expected], `where ${JSON.stringify(where)}`)
    assert.strictEqual(yield* docs.count(c, { where }), expected.length, `count where ${JSON.stringify(where)}`)
  })

/** Walks every page of `query`; returns the ids page by page. */
const walk = (c: Collection, query: DocumentStore.Query) =>
  Effect.gen(function*() {
    const docs = yield* DocumentStore.DocumentStore
    const pages: Array<Array<string>> = []
    let cursor: string | undefined = query.cursor
    do {
      const page = yield* docs.findPage(c, { ...query, cursor })
      pages.push(page.documents.map((d) => d.id))
      cursor = Option.getOrUndefined(page.cursor)
      if (pages.length > 1000) return assert.fail("pagination does not end")
    } while (cursor !== undefined)
    return pages
  })

/**
 * Registers the document query tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const documentQuerySuite = (it: ConformanceIt, _options?: SuiteOptions): void => {
  describe("document queries: where", () => {
    it.effect("a bare scalar means eq", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { name: "Bob" }, ["p2"])
        yield* selects(c, { active: false }, ["p2", "p5"])
        yield* selects(c, { score: 7 }, ["p1", "p2", "p6"])
      }))

    it.effect("eq is typed: the string \"30\" never equals the number 30", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { age: { eq: 30 } }, ["p2", "p7"])
        yield* selects(c, { age: { eq: "30" } }, ["p3"])
        yield* selects(c, { age: 30 }, ["p2", "p7"])
      }))

    it.effect("eq on strings is exact and case-sensitive", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { "address.city": "Paris" }, ["p2"])
        yield* selects(c, { "address.city": "paris" }, ["p3"])
        yield* selects(c, { "address.city": "Pari" }, [])
        yield* selects(c, { "address.city": "Zürich" }, ["p7"])
      }))

    it.effect("ne matches every document eq does not, missing fields included", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { age: { ne: 30 } }, ["p1", "p3", "p4", "p5", "p6"])
        yield* selects(c, { "address.city": { ne: "London" } }, ["p2", "p3", "p4", "p5", "p7"])
      }))

    it.effect("gt, gte, lt and lte on numbers match only numbers", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { age: { gt: 30 } }, ["p1", "p6"])
        yield* selects(c, { age: { gte: 30 } }, ["p1", "p2", "p6", "p7"])
        yield* selects(c, { age: { lt: 36 } }, ["p2", "p7"])
        yield* selects(c, { age: { lte: 36 } }, ["p1", "p2", "p7"])
        yield* selects(c, { age: { gt: 45.4 } }, ["p6"])
      }))

    it.effect("gt, gte, lt and lte on strings compare by code point and match only strings", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        // Code point order: "B" < "C" < "F" < "a" (uppercase before lowercase), and "30" is a string.
        yield* selects(c, { name: { gte: "C" } }, ["p3", "p4", "p5", "p6", "p7"])
        yield* selects(c, { name: { lt: "C" } }, ["p1", "p2"])
        yield* selects(c, { name: { gt: "Z" } }, ["p7"])
        yield* selects(c, { age: { gte: "0" } }, ["p3"])
        yield* selects(c, { "address.city": { gt: "Z" } }, ["p3", "p7"])
      }))

    it.effect("a range on one field combines its bounds", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { age: { gte: 30, lt: 40 } }, ["p1", "p2", "p7"])
        yield* selects(c, { score: { gt: 1, lte: 7 } }, ["p1", "p2", "p3", "p5", "p6"])
      }))

    it.effect("in matches any of its values, typed", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { name: { in: ["Ada", "Eve", "Nobody"] } }, ["p1", "p5"])
        yield* selects(c, { age: { in: [30, 45.5] } }, ["p2", "p6", "p7"])
        yield* selects(c, { age: { in: ["30"] } }, ["p3"])
        yield* selects(c, { age: { in: [] } }, [])
      }))

    it.effect("eq null matches null and missing fields; ne null matches present non-null values", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { age: null }, ["p4", "p5"])
        yield* selects(c, { age: { eq: null } }, ["p4", "p5"])
        yield* selects(c, { age: { ne: null } }, ["p1", "p2", "p3", "p6", "p7"])
        yield* selects(c, { "address.city": null }, ["p4"])
        yield* selects(c, { nickname: null }, ["p1", "p2", "p3", "p4", "p5", "p6", "p7"])
      }))

    it.effect("in with null matches null and missing fields too", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { age: { in: [null, 36] } }, ["p1", "p4", "p5"])
      }))

    it.effect("range operators never match null or missing fields", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { age: { lt: 1000 } }, ["p1", "p2", "p6", "p7"])
        yield* selects(c, { nickname: { gte: "" } }, [])
      }))

    it.effect("nested paths reach into objects and treat a null parent as missing", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { "address.city": "London" }, ["p1", "p6"])
        yield* selects(c, { "address.zip": "N1" }, ["p1"])
        yield* selects(c, { "address.zip": { ne: "N1" } }, ["p2", "p3", "p4", "p5", "p6", "p7"])
        yield* selects(c, { "name.first": null }, ["p1", "p2", "p3", "p4", "p5", "p6", "p7"])
      }))

    it.effect("several fields are a conjunction", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, { active: true, score: 7 }, ["p1", "p6"])
        yield* selects(c, { active: true, score: 7, "address.city": "London", age: { gt: 40 } }, ["p6"])
        yield* selects(c, { active: false, score: 9 }, [])
      }))

    it.effect("an empty where matches every document", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        yield* selects(c, {}, people.map(([id]) => id))
      }))

    it.effect("booleans are typed: true never equals 1 or \"true\"", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        yield* docs.put(c, "a", { flag: true })
        yield* docs.put(c, "b", { flag: 1 })
        yield* docs.put(c, "c", { flag: "true" })
        yield* selects(c, { flag: true }, ["a"])
        yield* selects(c, { flag: 1 }, ["b"])
        yield* selects(c, { flag: "true" }, ["c"])
      }))

    it.effect("hostile strings as where operands match exactly and inject nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        // Documents refuse U+0000 (see the document tests), so the operands leave it out too.
        const texts = hostileStrings.filter((text) => !text.includes("\u0000")).slice(0, 16)
        for (const [i, text] of texts.entries()) yield* docs.put(c, `d${String(i).padStart(2, "0")}`, { text })
        for (const [i, text] of texts.entries()) {
          assert.deepStrictEqual(yield* ids(c, { where: { text } }), [`d${String(i).padStart(2, "0")}`], show(text))
        }
        assert.strictEqual(yield* docs.count(c, { where: { text: { in: texts.slice(0, 5) } } }), 5)
      }))

    it.effect("fields named like SQL keywords and JSON functions are ordinary fields", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        yield* docs.put(c, "a", { select: 1, order: { by: "x" }, json_extract: true, _id: "a" })
        yield* docs.put(c, "b", { select: 2, order: { by: "y" }, json_extract: false, _id: "b" })
        yield* selects(c, { select: 2 }, ["b"])
        yield* selects(c, { "order.by": "x", json_extract: true, _id: "a" }, ["a"])
        assert.deepStrictEqual(yield* ids(c, { orderBy: [{ field: "select", direction: "desc" }] }), ["b", "a"])
      }))
  })

  describe("document queries: order, limit, count", () => {
    it.effect("without orderBy, documents come in id order", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        for (const id of ["m", "B", "a", "z", "A", "b0", "b"]) yield* docs.put(c, id, {})
        assert.deepStrictEqual(yield* ids(c), ["A", "B", "a", "b", "b0", "m", "z"])
      }))

    it.effect("orderBy ascending sorts by the field, then by id", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        assert.deepStrictEqual(yield* ids(c, { orderBy: [{ field: "score" }] }), [
          "p7",
          "p3",
          "p5",
          "p1",
          "p2",
          "p6",
          "p4"
        ])
      }))

    it.effect("orderBy descending sorts by the field descending, ties still by id ascending", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        assert.deepStrictEqual(
          yield* ids(c, { orderBy: [{ field: "score", direction: "desc" }] }),
          ["p4", "p1", "p2", "p6", "p3", "p5", "p7"]
        )
      }))

    it.effect("orderBy several fields sorts by each in turn, with the id as the last tiebreak", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        assert.deepStrictEqual(
          yield* ids(c, {
            where: { name: { ne: "Dee" } },
            orderBy: [{ field: "score", direction: "desc" }, { field: "name", direction: "asc" }]
          }),
          ["p1", "p2", "p6", "p3", "p5", "p7"]
        )
        assert.deepStrictEqual(
          yield* ids(c, { orderBy: [{ field: "active" }, { field: "score", direction: "desc" }, { field: "name" }] }),
          ["p2", "p5", "p4", "p1", "p6", "p3", "p7"]
        )
      }))

    it.effect("missing and null values sort first ascending and last descending", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        yield* docs.put(c, "n2", { rank: 2 })
        yield* docs.put(c, "missing", {})
        yield* docs.put(c, "n1", { rank: 1 })
        yield* docs.put(c, "null", { rank: null })
        assert.deepStrictEqual(yield* ids(c, { orderBy: [{ field: "rank" }] }), ["missing", "null", "n1", "n2"])
        assert.deepStrictEqual(
          yield* ids(c, { orderBy: [{ field: "rank", direction: "desc" }] }),
          ["n2", "n1", "missing", "null"]
        )
      }))

    it.effect("strings sort by code point, numbers numerically", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        const words = ["b", "B", "a", "é", "Z", "aa", "🎉", "中"]
        for (const [i, word] of words.entries()) {
          yield* docs.put(c, `w${i}`, { word, n: [10, 9, 100, -1, 2.5, 0, 1e6, -50][i] })
        }
        const byWord = yield* Stream.runCollect(docs.find(c, { orderBy: [{ field: "word" }] }))
        assert.deepStrictEqual(
          byWord.map((d) => (d.value as { word: string }).word),
          ["B", "Z", "a", "aa", "b", "é", "中", "🎉"]
        )
        const byNumber = yield* Stream.runCollect(docs.find(c, { orderBy: [{ field: "n" }] }))
        assert.deepStrictEqual(
          byNumber.map((d) => (d.value as { n: number }).n),
          [-50, -1, 0, 2.5, 9, 10, 100, 1e6]
        )
      }))

    it.effect("limit returns only the first documents in query order", () =>
      Effect.gen(function*() {
        const c = yield* seedPeople
        assert.deepStrictEqual(yield* ids(c, { limit: 3 }), ["p1", "p2", "p3"])
        assert.deepStrictEqual(
          yield* ids(c, { limit: 2, orderBy: [{ field: "score", direction: "desc" }] }),
          ["p4", "p1"]
        )
        assert.deepStrictEqual(yield* ids(c, { limit: 100, where: { active: false } }), ["p2", "p5"])
      }))

    it.effect("count counts matching documents and follows deletes", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedPeople
        assert.strictEqual(yield* docs.count(c), people.length)
        assert.strictEqual(yield* docs.count(c, {}), people.length)
        assert.strictEqual(yield* docs.count(c, { where: { active: true } }), 5)
        yield* docs.delete(c, "p1")
        assert.strictEqual(yield* docs.count(c, { where: { active: true } }), 4)
        assert.strictEqual(yield* docs.count(json(names().collection())), 0)
      }))

    it.effect("find streams every match of a collection larger than one internal page", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        const total = 300
        for (let i = 0; i < total; i++) yield* docs.put(c, `d${String(i).padStart(3, "0")}`, { i, even: i % 2 === 0 })
        const all = yield* Stream.runCollect(docs.find(c, { orderBy: [{ field: "i", direction: "desc" }] }))
        assert.deepStrictEqual(
          all.map((d) => (d.value as { i: number }).i),
          Array.from({ length: total }, (_, i) => total - 1 - i)
        )
        const even = yield* Stream.runCollect(docs.find(c, { where: { even: true }, limit: 140 }))
        assert.strictEqual(even.length, 140)
        assert.strictEqual(new Set(even.map((d) => d.id)).size, 140)
      }))
  })

  describe("document queries: pages and cursors", () => {
    /** 25 documents d00..d24 with n = 0..24 and a group (n mod 3). */
    const seedNumbered = Effect.gen(function*() {
      const docs = yield* DocumentStore.DocumentStore
      const c = json(names().collection("numbered"))
      for (let i = 0; i < 25; i++) yield* docs.put(c, `d${String(i).padStart(2, "0")}`, { n: i, group: i % 3 })
      return c
    })
    const id = (i: number) => `d${String(i).padStart(2, "0")}`

    it.effect("findPage walks 25 documents in pages of 10, 10 and 5, without duplicates or misses", () =>
      Effect.gen(function*() {
        const c = yield* seedNumbered
        const pages = yield* walk(c, { limit: 10, orderBy: [{ field: "n" }] })
        assert.deepStrictEqual(pages.map((p) => p.length), [10, 10, 5])
        assert.deepStrictEqual(pages.flat(), Array.from({ length: 25 }, (_, i) => id(i)))
      }))

    it.effect("findPage with where and descending order pages through exactly the matches", () =>
      Effect.gen(function*() {
        const c = yield* seedNumbered
        const pages = yield* walk(c, {
          where: { group: 0 },
          limit: 3,
          orderBy: [{ field: "n", direction: "desc" }]
        })
        assert.deepStrictEqual(pages.flat(), [24, 21, 18, 15, 12, 9, 6, 3, 0].map(id))
        assert.deepStrictEqual(pages.map((p) => p.length), [3, 3, 3])
      }))

    // Ties: group takes 3 values (and is null or missing for some), tier 2; page boundaries fall
    // inside runs of equal values, where only the id tiebreak orders the documents.
    const seedTied = Effect.gen(function*() {
      const docs = yield* DocumentStore.DocumentStore
      const c = json(names().collection("tied"))
      for (let i = 0; i < 23; i++) {
        const group = i % 7 === 0 ? null : i % 5 === 0 ? undefined : ["b", "a", "c"][i % 3]
        yield* docs.put(c, `t${String((i * 7) % 23).padStart(2, "0")}`, {
          ...(group === undefined ? {} : { group }),
          tier: i % 2
        })
      }
      return c
    })
    const tiedOrders: ReadonlyArray<readonly [string, ReadonlyArray<DocumentStore.OrderBy>]> = [
      ["ascending", [{ field: "group" }]],
      ["descending", [{ field: "group", direction: "desc" }]],
      ["by two keys", [{ field: "group" }, { field: "tier", direction: "desc" }]]
    ]
    for (const [label, orderBy] of tiedOrders) {
      it.effect(`findPage walks tied sort values ${label} in find's order, every page size, none missing or repeated`, () =>
        Effect.gen(function*() {
          const c = yield* seedTied
          const all = yield* ids(c, { orderBy })
          assert.strictEqual(all.length, 23)
          assert.strictEqual(new Set(all).size, 23)
          for (const limit of [1, 2, 3, 4, 7]) {
            const pages = yield* walk(c, { orderBy, limit })
            assert.deepStrictEqual(pages.flat(), all, `pages of ${limit}`)
            assert.isTrue(pages.every((page) => page.length <= limit))
          }
          // find continues from a cursor inside a tie exactly where findPage would.
          const docs = yield* DocumentStore.DocumentStore
          const first = yield* docs.findPage(c, { orderBy, limit: 5 })
          const rest = yield* ids(c, { orderBy, cursor: Option.getOrThrow(first.cursor) })
          assert.deepStrictEqual([...first.documents.map((d) => d.id), ...rest], all)
        }))
    }

    it.effect("the last page has no cursor; a collection that fits in one page has none", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        const whole = yield* docs.findPage(c, { limit: 25 })
        assert.strictEqual(whole.documents.length, 25)
        assert.isTrue(Option.isNone(whole.cursor))
        const empty = yield* docs.findPage(c, { where: { n: -1 } })
        assert.deepStrictEqual(empty.documents, [])
        assert.isTrue(Option.isNone(empty.cursor))
      }))

    it.effect("findPage without a limit returns at most 100 documents", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        for (let i = 0; i < 105; i++) yield* docs.put(c, `d${String(i).padStart(3, "0")}`, { i })
        const page = yield* docs.findPage(c)
        assert.strictEqual(page.documents.length, 100)
        assert.isTrue(Option.isSome(page.cursor))
        const next = yield* docs.findPage(c, { cursor: Option.getOrThrow(page.cursor) })
        assert.deepStrictEqual(next.documents.map((d) => d.id), ["d100", "d101", "d102", "d103", "d104"])
      }))

    it.effect("a cursor is stable when documents are inserted before and after it between pages", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        const query = { limit: 10, orderBy: [{ field: "n" }] }
        const first = yield* docs.findPage(c, query)
        assert.deepStrictEqual(first.documents.map((d) => d.id), Array.from({ length: 10 }, (_, i) => id(i)))
        yield* docs.put(c, "before", { n: 4.5 })
        yield* docs.put(c, "after", { n: 14.5 })
        const rest = yield* walk(c, { ...query, cursor: Option.getOrThrow(first.cursor) })
        const expected = Array.from({ length: 15 }, (_, i) => id(i + 10))
        expected.splice(5, 0, "after")
        assert.deepStrictEqual(rest.flat(), expected)
      }))

    it.effect("a cursor is stable when documents on either side of it are deleted between pages", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        const query = { limit: 5, orderBy: [{ field: "n" }] }
        const first = yield* docs.findPage(c, query)
        yield* docs.delete(c, id(1))
        yield* docs.delete(c, id(4))
        yield* docs.delete(c, id(6))
        const second = yield* docs.findPage(c, { ...query, cursor: Option.getOrThrow(first.cursor) })
        assert.deepStrictEqual(second.documents.map((d) => d.id), [5, 7, 8, 9, 10].map(id))
      }))

    it.effect("a document updated to sort after the cursor shows up again at its new place (keyset paging)", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        const query = { limit: 5, orderBy: [{ field: "n" }] }
        const first = yield* docs.findPage(c, query)
        yield* docs.put(c, id(2), { n: 100, group: 2 })
        const rest = yield* walk(c, { ...query, cursor: Option.getOrThrow(first.cursor) })
        assert.deepStrictEqual(rest.flat(), [...Array.from({ length: 20 }, (_, i) => id(i + 5)), id(2)])
      }))

    it.effect("a cursor may be used with a different page size of the same query", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        const first = yield* docs.findPage(c, { limit: 4, orderBy: [{ field: "n" }] })
        const second = yield* docs.findPage(c, {
          limit: 2,
          orderBy: [{ field: "n" }],
          cursor: Option.getOrThrow(first.cursor)
        })
        assert.deepStrictEqual(second.documents.map((d) => d.id), [4, 5].map(id))
      }))

    it.effect("find continues from a findPage cursor", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        const first = yield* docs.findPage(c, { limit: 20, orderBy: [{ field: "n" }] })
        const rest = yield* ids(c, { orderBy: [{ field: "n" }], cursor: Option.getOrThrow(first.cursor) })
        assert.deepStrictEqual(rest, [20, 21, 22, 23, 24].map(id))
      }))

    it.effect("a cursor from a different query fails with InvalidQuery", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        const page = yield* docs.findPage(c, { limit: 5, orderBy: [{ field: "n" }] })
        const cursor = Option.getOrThrow(page.cursor)
        const otherOrder = yield* failsWith("InvalidQuery")(
          docs.findPage(c, { limit: 5, orderBy: [{ field: "n", direction: "desc" }], cursor })
        )
        assert.strictEqual(otherOrder.collection, c.name)
        yield* failsWith("InvalidQuery")(docs.findPage(c, { limit: 5, orderBy: [{ field: "group" }], cursor }))
        yield* failsWith("InvalidQuery")(
          docs.findPage(c, { limit: 5, where: { group: 1 }, orderBy: [{ field: "n" }], cursor })
        )
        yield* streamFailsWith("InvalidQuery")(docs.find(c, { cursor }))
      }))

    it.effect("a malformed cursor fails with InvalidQuery", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedNumbered
        for (const cursor of ["", "not-a-cursor", "eyJxIjoiIn0", "%%%", "x".repeat(70_000)]) {
          yield* failsWith("InvalidQuery")(docs.findPage(c, { cursor }))
        }
      }))
  })

  describe("document queries: refused queries", () => {
    const hostileFields = [
      "a'b",
      "a\"); drop",
      "a[0]",
      "$.x",
      "a..b",
      "1a",
      ".a",
      "a.",
      "a-b",
      "a b",
      "",
      "ünï",
      "x".repeat(70),
      "a.b.c.d.e.f.g.h.i"
    ]
    for (const field of hostileFields) {
      it.effect(`field path ${JSON.stringify(field.length > 20 ? `${field.slice(0, 6)}…(${field.length})` : field)} fails with InvalidQuery in where and orderBy`, () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const c = yield* seedPeople
          const where = yield* failsWith("InvalidQuery")(docs.count(c, { where: { [field]: 1 } }))
          assert.strictEqual(where.collection, c.name)
          yield* streamFailsWith("InvalidQuery")(docs.find(c, { where: { [field]: { gt: 1 } } }))
          yield* failsWith("InvalidQuery")(docs.findPage(c, { orderBy: [{ field }] }))
          assert.strictEqual(yield* docs.count(c), people.length)
        }))
    }

    it.effect("a path of 8 segments of 64 characters is accepted", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedPeople
        const path = Array.from({ length: 8 }, (_, i) => `s${i}`.padEnd(64, "_")).join(".")
        assert.isTrue(DocumentQuery.fieldPathPattern.test(path))
        assert.strictEqual(yield* docs.count(c, { where: { [path]: null } }), people.length)
      }))

    it.effect("unknown operators fail with InvalidQuery", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedPeople
        for (const op of ["like", "regex", "$gt", "contains", "exists", "or", "__proto__x", "toString"]) {
          yield* failsWith("InvalidQuery")(docs.count(c, { where: { age: { [op]: 1 } as never } }))
        }
        yield* failsWith("InvalidQuery")(docs.count(c, { where: { age: { gt: 1, like: "x" } as never } }))
      }))

    it.effect("operands that are not scalars, and conditions without operators, fail with InvalidQuery", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedPeople
        const bad: ReadonlyArray<DocumentStore.Where> = [
          { age: [30] as never },
          { age: {} },
          { age: { eq: { nested: 1 } } as never },
          { age: { eq: [1] } as never },
          { age: { gt: true } as never },
          { age: { gt: null } as never },
          { age: { lt: Number.NaN } },
          { age: { eq: Number.POSITIVE_INFINITY } },
          { age: { in: 30 } as never },
          { age: { in: [{ x: 1 }] } as never },
          { age: { in: Array.from({ length: DocumentQuery.maxInValues + 1 }, (_, i) => i) } },
          { age: new Date() as never },
          { age: 10n as never }
        ]
        for (const where of bad) yield* failsWith("InvalidQuery")(docs.count(c, { where }))
      }))

    it.effect("a limit that is not a positive integer fails with InvalidQuery", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedPeople
        for (const limit of [0, -1, 1.5, Number.NaN]) {
          yield* failsWith("InvalidQuery")(docs.findPage(c, { limit }))
          yield* streamFailsWith("InvalidQuery")(docs.find(c, { limit }))
        }
      }))

    it.effect("an orderBy that is not a list of { field, direction } fails with InvalidQuery", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = yield* seedPeople
        const bad = [
          { field: "age" } as never,
          [{ field: "age", direction: "up" }] as never,
          ["age"] as never,
          [{ field: 1 }] as never
        ]
        for (const orderBy of bad) yield* failsWith("InvalidQuery")(docs.findPage(c, { orderBy }))
      }))
  })
}

const show = (value: string): string => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
