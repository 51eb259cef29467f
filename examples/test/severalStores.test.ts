// Runs the several-stores guide's examples (examples/severalStores.ts) on memory and SQLite and
// checks every value docs/several-stores.md states; also checks the guide quotes each region of the
// file exactly.
import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, MemoryStore, Tenant, TenantError } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Several from "../severalStores.ts"

const root = path.join(import.meta.dirname, "..", "..")

const stores = [
  ["memory", () => MemoryStore.layer()],
  ["sqlite", () => SqliteStore.layer({ filename: ":memory:" })]
] as const

for (const [name, store] of stores) {
  describe(`the several-stores guide (${name})`, () => {
    it.live("two named stores: the order in orders, its invoice in billing", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* Several.program, {
          types: ["OrderPlaced"],
          invoice: Option.some(42),
          inBilling: "missing"
        })
      }).pipe(Effect.provide(Several.live(store(), MemoryStore.layer()))))

    it.live("tenants: a log each, hostile ids refused, a consumer per tenant", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* Several.tenants, { acme: 1, globex: 2 })
        assert.deepStrictEqual(yield* Several.refused, { tag: "TenantError", reason: "Invalid" })
        assert.isTrue(TenantError.isTenantId("acme"))
        // The welcome consumer ran in each tenant, on that tenant's accounts only.
        const greeted = (tenant: string, stream: string) =>
          Tenant.with(tenant)(
            Effect.flatMap(DocumentStore.DocumentStore, (docs) => docs.get(Several.Greetings, stream))
          ).pipe(Effect.map(Option.isSome))
        const all = Effect.all([
          greeted("acme", "account-ada"),
          greeted("globex", "account-grace"),
          greeted("globex", "account-alan")
        ])
        yield* Effect.repeat(all, {
          until: (found) => found.every(Boolean),
          schedule: Schedule.spaced("20 millis")
        }).pipe(Effect.timeout("10 seconds"))
        assert.isFalse(yield* greeted("acme", "account-grace"))
      }).pipe(Effect.provide(Several.Welcome.pipe(Layer.provideMerge(Several.tenantStores(() => store()))))))
  })
}

describe("docs/several-stores.md", () => {
  it("quotes every region of examples/severalStores.ts exactly, each once", () => {
    const guide = fs.readFileSync(path.join(root, "docs", "several-stores.md"), "utf8")
    const example = fs.readFileSync(path.join(root, "examples", "severalStores.ts"), "utf8")
    const regions = new Map(
      [...example.matchAll(/^\/\/ #region (\w+)\n([\s\S]*?)^\/\/ #endregion \1\n/gm)].map(([, name, body]) => [
        name,
        body
      ])
    )
    const quoted = [...guide.matchAll(/<!-- examples\/severalStores\.ts#(\w+) -->\n```ts\n([\s\S]*?)```/g)]
    assert.deepStrictEqual(quoted.map(([, name]) => name), [...regions.keys()])
    for (const [, name, body] of quoted) assert.strictEqual(body, regions.get(name), `region ${name}`)
  })
})
