// Every `@example` block of the packages' doc comments compiles as a user's module would (see
// examples/test/docExamples.ts for what a block is and the `// @example-fragment` exception).
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as DocExamples from "./docExamples.ts"

const root = path.join(import.meta.dirname, "..", "..")

describe("doc examples", () => {
  it("extracts fenced blocks, unfenced content and fragments with their lines, as TypeDoc renders them", () => {
    const source = [
      "/**", //                                     1
      " * Summary.", //                             2
      " *", //                                      3
      " * @example", //                             4
      " * const a = 1", //                          5
      " *", //                                      6
      " * @example A title", //                     7
      " * Some prose.", //                          8
      " * ```ts", //                                9
      " * import { Effect } from \"effect\"", //    10
      " * @decorator()", //                         11
      " * ```", //                                  12
      " * ```sh", //                                13
      " * npm test", //                             14
      " * ```", //                                  15
      " * @example", //                             16
      " * ```ts", //                                17
      " * // @example-fragment: a store in scope", // 18
      " * yield* store.append(\"a\", [])", //       19
      " * ```", //                                  20
      " *", //                                      21
      " * @since 0.1.0", //                         22
      " */", //                                     23
      "export const a = 1"
    ].join("\n")
    assert.deepStrictEqual(DocExamples.extract("x.ts", source), [
      { file: "x.ts", line: 5, code: "const a = 1", fragment: false },
      { file: "x.ts", line: 10, code: "import { Effect } from \"effect\"\n@decorator()", fragment: false },
      {
        file: "x.ts",
        line: 18,
        code: "// @example-fragment: a store in scope\nyield* store.append(\"a\", [])",
        fragment: true
      }
    ])
  })

  it("every @example block of packages/*/src compiles in one program (fragments marked, and few)", () => {
    const blocks = DocExamples.allBlocks(root)
    // The temporary modules sit inside the repository, so `@strata/*` resolves through the workspace.
    const cache = path.join(root, "node_modules", ".cache")
    fs.mkdirSync(cache, { recursive: true })
    const dir = fs.mkdtempSync(path.join(cache, "strata-doc-examples-"))
    try {
      const failures = DocExamples.compile(root, dir, blocks)
      const fragments = blocks.filter((block) => block.fragment)
      assert.isAbove(blocks.length, 100, "the extraction finds the examples")
      assert.isAtMost(fragments.length, 10, "fragments stay few: make an example a whole module instead")
      assert.strictEqual(
        failures.length,
        0,
        `${failures.length} of ${blocks.length - fragments.length} @example blocks do not compile:\n` +
          failures.flatMap(({ diagnostics }) =>
            diagnostics.length > 3
              ? [...diagnostics.slice(0, 3), `  ... and ${diagnostics.length - 3} more`]
              : diagnostics
          ).join("\n")
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
