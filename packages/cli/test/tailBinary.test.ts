/**
 * `strata tail` with binary events on SQLite: the pretty output says what a binary event is
 * (`<N bytes, content/type>`) instead of printing its array as `{"0":…}`; `--json` gives the line
 * format, `contentType` and base64 `bytes` in place of `data` (Transfer's own encoder).
 */
import { Event, Transfer } from "@strata/core"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as Tail from "../src/internal/commands/Tail.ts"
import { startInProcess, strata, tempDir, waitFor } from "./utils.ts"

const dir = tempDir()
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
const url = `sqlite:${path.join(dir, "store.db")}`

const everyByte = Uint8Array.from({ length: 2048 }, (_, i) => i % 256)
const base = { schemaVersion: undefined, time: undefined, position: undefined, metadata: {} }
const events: Array<Transfer.ExportedEvent> = [
  { ...base, stream: "avatar-7", version: 0n, id: crypto.randomUUID(), type: "AvatarRequested", data: { by: "ada" } },
  {
    ...base,
    stream: "avatar-7",
    version: 1n,
    id: crypto.randomUUID(),
    type: "AvatarUploaded",
    data: everyByte,
    contentType: "image/png",
    metadata: { width: 64 }
  },
  {
    ...base,
    stream: "avatar-7",
    version: 2n,
    id: crypto.randomUUID(),
    type: "Marker",
    data: Uint8Array.of(7),
    contentType: Event.defaultContentType
  },
  {
    ...base,
    stream: "avatar-7",
    version: 3n,
    id: crypto.randomUUID(),
    type: "Empty",
    data: new Uint8Array(0),
    contentType: "application/x-empty"
  }
]

// The store is written by `strata import` (the line format with binary lines), as a user would.
beforeAll(async () => {
  const input = path.join(dir, "in.ndjson")
  fs.writeFileSync(input, events.map((event) => `${Transfer.encodeLine(event)}\n`).join(""))
  const imported = await strata(["import", "--url", url], { stdin: input })
  assert.strictEqual(imported.code, 0, imported.stderr)
}, 120_000)

const tail = async (args: ReadonlyArray<string>): Promise<Array<string>> => {
  const run = startInProcess(["tail", "--from", "start", "--url", url, ...args])
  await waitFor(run.stdout, (text) => text.split("\n").length > events.length)
  run.signal()
  assert.strictEqual(await run.done, 0, run.stderr())
  return run.stdout().split("\n").filter((line) => line !== "")
}

describe("strata tail with binary events (SQLite)", () => {
  it("pretty: a binary event's data is <N bytes, content type>, a JSON event's its JSON", async () => {
    const lines = await tail([])
    assert.strictEqual(lines.length, 4, lines.join("\n"))
    assert.match(lines[0], / avatar-7@0 AvatarRequested \{"by":"ada"\}$/)
    assert.match(lines[1], / avatar-7@1 AvatarUploaded <2,048 bytes, image\/png>$/)
    assert.match(lines[2], / avatar-7@2 Marker <1 byte, application\/octet-stream>$/)
    assert.match(lines[3], / avatar-7@3 Empty <0 bytes, application\/x-empty>$/)
    for (const line of lines) assert.notInclude(line, `{"0":`)
  }, 120_000)

  it("--json: the line format, contentType and base64 bytes in place of data", async () => {
    const lines = (await tail(["--json"])).map((line) => JSON.parse(line))
    assert.strictEqual(lines.length, 4)
    assert.deepStrictEqual(lines[0].data, { by: "ada" })
    assert.notProperty(lines[1], "data")
    assert.strictEqual(lines[1].contentType, "image/png")
    assert.deepStrictEqual(new Uint8Array(Buffer.from(lines[1].bytes, "base64")), everyByte)
    assert.deepStrictEqual(lines[1].metadata, { width: 64 })
    assert.strictEqual(lines[2].bytes, "Bw==")
    assert.strictEqual(lines[3].bytes, "")
    assert.strictEqual(lines[3].contentType, "application/x-empty")
  }, 120_000)

  it("Tail.data: what the pretty output prints for data", () => {
    assert.strictEqual(Tail.data({ data: { a: 1 }, contentType: undefined }), `{"a":1}`)
    assert.strictEqual(Tail.data({ data: new Uint8Array(3), contentType: "image/gif" }), "<3 bytes, image/gif>")
    assert.strictEqual(
      Tail.data({ data: new Uint8Array(1), contentType: undefined }),
      "<1 byte, application/octet-stream>"
    )
  })
})
