/**
 * Bundles a Worker entry (argv[2]) the way wrangler does for workerd, resolving packages from the
 * entry's own node_modules, refuses a bundle that imports a `node:` built-in, and runs it in
 * Miniflare with a D1 binding. Prints one line on success; throws otherwise.
 */
import { Miniflare } from "miniflare"
import * as assert from "node:assert/strict"
import { rolldown } from "rolldown"

const entry = process.argv[2]
if (entry === undefined) throw new Error("usage: node worker.ts <worker entry>")

const build = await rolldown({
  input: entry,
  platform: "neutral",
  resolve: { conditionNames: ["workerd", "worker", "browser", "import", "default"], mainFields: ["module", "main"] }
})
const { output } = await build.generate({ format: "esm" })
assert.equal(output.length, 1, "the Worker bundles into one module")
const script = output[0].code
const builtins = [...script.matchAll(/\bfrom\s*["'](node:[^"']+)["']|\bimport\s*\(\s*["'](node:[^"']+)["']/g)]
assert.deepEqual(builtins.map((m) => m[1] ?? m[2]), [], "the Worker bundle imports no node: built-ins")

const mf = new Miniflare({ modules: true, script, d1Databases: ["DB"], compatibilityDate: "2026-01-01" })
try {
  await mf.ready
  const call = async (method: string, url: string) => {
    const response = await mf.dispatchFetch(url, { method })
    return { status: response.status, body: await response.json() as unknown }
  }
  assert.deepEqual(await call("POST", "http://worker/accounts/ada/deposit?amount=30"), {
    status: 200,
    body: { version: "0", position: "1" }
  })
  await call("POST", "http://worker/accounts/ada/deposit?amount=12")
  assert.deepEqual(await call("GET", "http://worker/accounts/ada"), {
    status: 200,
    body: { id: "ada", balance: 42, events: 2 }
  })
  console.log(`the D1 Worker (${(script.length / 1024).toFixed(0)} kB bundle, no node: imports) ran in Miniflare`)
} finally {
  await mf.dispose()
}
