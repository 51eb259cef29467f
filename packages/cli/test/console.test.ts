// `strata console`: the real bin serves @strata/console on a store given by URL, prints the URL with
// its token, answers only requests that carry it, refuses a non-loopback bind and a missing SQLite
// file with one-line errors, and stops cleanly on SIGINT.
import * as path from "node:path"
import { assert, describe, it } from "vitest"
import { collect, oneLineError, start, strata, tempDir, waitFor } from "./utils.ts"

describe("strata console", () => {
  const dir = tempDir()
  const url = `sqlite:${path.join(dir, "console.db")}`

  it("serves the store at the printed URL, only with its token; SIGINT stops it", async () => {
    assert.strictEqual((await strata(["migrate", "--url", url])).code, 0)
    const child = start(["console", "--url", url])
    const done = collect(child)
    let stdout = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    await waitFor(() => stdout, (text) => /^http:\/\/127\.0\.0\.1:\d+\/\S+$/m.test(text))
    const printed = new URL(stdout.trim().split("\n").find((line) => line.startsWith("http://"))!)
    const page = await fetch(printed)
    assert.strictEqual(page.status, 200)
    assert.include(await page.text(), "<html")
    const withoutToken = await fetch(`${printed.origin}/`)
    assert.isAtLeast(withoutToken.status, 400)
    assert.isBelow(withoutToken.status, 500)
    child.kill("SIGINT")
    const result = await done
    assert.strictEqual(result.code, 0, result.stderr)
  })

  it("refuses a non-loopback bind without --allow-remote, and a SQLite file that does not exist", async () => {
    const file = `sqlite:${path.join(dir, "refusals.db")}`
    assert.strictEqual((await strata(["migrate", "--url", file])).code, 0)
    oneLineError(
      await strata(["console", "--url", file, "--host", "0.0.0.0"]),
      /refusing to serve .* on 0\.0\.0\.0.*--allow-remote/
    )
    oneLineError(
      await strata(["console", "--url", `sqlite:${path.join(dir, "missing.db")}`]),
      /StartupFailed: .*missing\.db: no such file/
    )
  })
})
