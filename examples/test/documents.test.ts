// Runs the document-query guide's examples (examples/documents.ts) on memory and SQLite and checks
// every value docs/documents.md states; also checks the guide quotes each region of the file exactly.
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Documents from "../documents.ts"

const root = path.join(import.meta.dirname, "..", "..")

const stores = [
  ["memory", () => MemoryStore.layer()],
  ["sqlite", () => SqliteStore.layer({ filename: ":memory:" })]
] as const

for (const [name, layer] of stores) {
  describe(`the document guide (${name})`, () => {
    // One fresh store for the whole guide, in its order: no event is appended before the last part.
    it.effect("writes, queries, pages and a put with events, as the guide says", () =>
      Effect.gen(function*() {
        const writes = yield* Documents.writes
        assert.deepStrictEqual(writes, {
          versions: [1n, 2n, Option.some(3n), 1n],
          stale: "DocumentConflict",
          status: Option.some("paid"),
          missing: true,
          deleted: [true, false]
        })

        yield* Documents.seed
        assert.deepStrictEqual(yield* Documents.where, {
          ada: ["o-1", "o-3"],
          paid: ["o-2", "o-3", "o-7"],
          notPaid: ["o-1", "o-4", "o-5", "o-6"],
          between: ["o-1", "o-3"],
          citiesBeforeM: ["o-1", "o-3", "o-4", "o-6"],
          alanOrGrace: ["o-2", "o-4", "o-5"],
          noZip: ["o-2", "o-5", "o-7"],
          noNote: ["o-1", "o-2", "o-3", "o-4", "o-6", "o-7"],
          withNote: ["o-5"],
          paidInLondon: ["o-3"]
        })
        assert.deepStrictEqual(yield* Documents.order, {
          byTotal: ["o-5", "o-2", "o-6", "o-3", "o-1", "o-4", "o-7"],
          byStatusThenTotal: ["o-1", "o-5", "o-7", "o-3", "o-2", "o-4", "o-6"],
          topTwo: ["o-5", "o-2"],
          paid: 3,
          all: 7
        })
        assert.deepStrictEqual(yield* Documents.pages, {
          walked: [["o-7", "o-4", "o-1"], ["o-3", "o-2", "o-6"], ["o-5"]],
          rest: ["o-3", "o-2", "o-6", "o-5"],
          otherQuery: "InvalidQuery"
        })
        assert.deepStrictEqual(yield* Documents.withEvents, {
          version: 1n,
          nextExpectedVersion: 0n,
          position: 1n,
          event: { type: "OrderPlaced", version: 0n, position: 1n }
        })
      }).pipe(Effect.provide(layer())))
  })
}

describe("docs/documents.md", () => {
  it("quotes every region of examples/documents.ts exactly, each once", () => {
    const guide = fs.readFileSync(path.join(root, "docs", "documents.md"), "utf8")
    const example = fs.readFileSync(path.join(root, "examples", "documents.ts"), "utf8")
    const regions = new Map(
      [...example.matchAll(/^\/\/ #region (\w+)\n([\s\S]*?)^\/\/ #endregion \1\n/gm)].map(([, name, body]) => [
        name,
        body
      ])
    )
    const quoted = [...guide.matchAll(/<!-- examples\/documents\.ts#(\w+) -->\n```ts\n([\s\S]*?)```/g)]
    assert.deepStrictEqual(quoted.map(([, name]) => name), [...regions.keys()])
    for (const [, name, body] of quoted) assert.strictEqual(body, regions.get(name), `region ${name}`)
  })
})
