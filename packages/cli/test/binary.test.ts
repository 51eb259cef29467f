/**
 * Binary events through the CLI: `strata import` of a file with binary lines (contentType + base64
 * bytes) next to JSON lines, `strata export` writing the same lines back, and `strata copy` into
 * another store, all byte for byte (the CLI's commands go through core's Transfer).
 */
import { Event, Transfer } from "@strata/core"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import { strata } from "./utils.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-cli-binary-"))
fs.chmodSync(dir, 0o755)
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i)
const events: Array<Transfer.ExportedEvent> = [
  {
    stream: "scan-1",
    version: 0n,
    id: crypto.randomUUID(),
    type: "Opened",
    schemaVersion: undefined,
    time: undefined,
    position: undefined,
    data: { by: "ada" },
    metadata: {}
  },
  {
    stream: "scan-1",
    version: 1n,
    id: crypto.randomUUID(),
    type: "Page",
    schemaVersion: undefined,
    time: undefined,
    position: undefined,
    data: everyByte,
    contentType: "image/tiff",
    metadata: { page: 1 }
  },
  {
    stream: "scan-1",
    version: 2n,
    id: crypto.randomUUID(),
    type: "Page",
    schemaVersion: undefined,
    time: undefined,
    position: undefined,
    data: new Uint8Array(0),
    contentType: Event.defaultContentType,
    metadata: {}
  },
  {
    stream: "scan-2",
    version: 0n,
    id: crypto.randomUUID(),
    type: "Page",
    schemaVersion: undefined,
    time: undefined,
    position: undefined,
    data: everyByte.slice().reverse(),
    contentType: "application/pdf",
    metadata: {}
  }
]

// A line without the target's own time and position, for comparing an export with its input.
const comparable = (text: string) =>
  text.split("\n").filter((line) => line !== "").map((line) => {
    const { position: _p, time: _t, ...rest } = JSON.parse(line)
    return rest
  })

describe("binary events through the CLI (SQLite)", () => {
  it("import, export and copy keep binary events byte for byte", async () => {
    const input = path.join(dir, "in.ndjson")
    fs.writeFileSync(input, events.map((event) => `${Transfer.encodeLine(event)}\n`).join(""))
    const url = `sqlite:${path.join(dir, "store.db")}`
    const imported = await strata(["import", "--url", url], { stdin: input })
    assert.strictEqual(imported.code, 0, imported.stderr)
    assert.match(imported.stdout, /imported 4 events/)

    const exported = await strata(["export", "--url", url])
    assert.strictEqual(exported.code, 0, exported.stderr)
    assert.deepStrictEqual(comparable(exported.stdout), comparable(fs.readFileSync(input, "utf8")))
    const line = JSON.parse(exported.stdout.split("\n")[1])
    assert.strictEqual(line.contentType, "image/tiff")
    assert.deepStrictEqual(new Uint8Array(Buffer.from(line.bytes, "base64")), everyByte)

    const target = `sqlite:${path.join(dir, "copy.db")}`
    const copied = await strata(["copy", "--from", url, "--to", target])
    assert.strictEqual(copied.code, 0, copied.stderr)
    const again = await strata(["export", "--url", target])
    assert.deepStrictEqual(comparable(again.stdout), comparable(exported.stdout))
  }, 120_000)
})
