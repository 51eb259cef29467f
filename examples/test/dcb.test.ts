// Runs the DCB guide's examples (examples/dcb.ts) on memory and SQLite and checks every value
// docs/dcb.md states; also checks the guide quotes each region of the file exactly.
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Dcb from "../dcb.ts"

const root = path.join(import.meta.dirname, "..", "..")

const stores = [
  ["memory", () => MemoryStore.layer()],
  ["sqlite", () => SqliteStore.layer({ filename: ":memory:" })]
] as const

for (const [name, layer] of stores) {
  describe(`the DCB guide (${name})`, () => {
    it.effect("twelve students race for ten seats: ten get in, two find the course full", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* Dcb.race, { enrolled: 10, full: 2 })
        // Enrolling again decides nothing.
        assert.deepStrictEqual((yield* Dcb.enrol("math", "s0")).results, [])
      }).pipe(Effect.provide(layer())))

    it.effect("a condition built from a read fails a second decision on the same read", () =>
      Effect.gen(function*() {
        const outcome = yield* Dcb.byHand
        assert.strictEqual(outcome.first, "account-1")
        assert.strictEqual(outcome.second, 1n)
      }).pipe(Effect.provide(layer())))
  })
}

describe("docs/dcb.md", () => {
  it("quotes every region of examples/dcb.ts exactly, each once", () => {
    const guide = fs.readFileSync(path.join(root, "docs", "dcb.md"), "utf8")
    const example = fs.readFileSync(path.join(root, "examples", "dcb.ts"), "utf8")
    const regions = new Map(
      [...example.matchAll(/^\/\/ #region (\w+)\n([\s\S]*?)^\/\/ #endregion \1\n/gm)].map(([, name, body]) => [
        name,
        body
      ])
    )
    const quoted = [...guide.matchAll(/<!-- examples\/dcb\.ts#(\w+) -->\n```ts\n([\s\S]*?)```/g)]
    assert.deepStrictEqual(quoted.map(([, name]) => name), [...regions.keys()])
    for (const [, name, body] of quoted) assert.strictEqual(body, regions.get(name), `region ${name}`)
  })
})
