// Binary events in the console, on a SQLite file opened by URL as `strata console --url` opens it:
// the stream page's API and the $all tail carry `contentType` and base64 `bytes` in place of `data`
// (the Transfer line format's shape, never the array as `{"0":…}`), and the page says
// `<N bytes, content/type>`.
import { Console } from "@strata/console"
import { Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as Http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { onStore, open, type Opened, request } from "./fixture.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-console-binary-"))
fs.chmodSync(dir, 0o755)
const url = `sqlite:${path.join(dir, "app.db")}`
const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i)

const append = (events: ReadonlyArray<Event.NewEvent>) =>
  Effect.runPromise(onStore(url, Effect.flatMap(EventStore.EventStore, (store) => store.append("avatar-7", events))))

let opened: Opened
let server: Console.ConsoleServer
beforeAll(async () => {
  await append([
    Event.make("AvatarRequested", { by: "ada" }),
    Event.binary("AvatarUploaded", everyByte, { contentType: "image/png", metadata: { width: 64 } }),
    Event.binary("Cleared", new Uint8Array(0))
  ])
  opened = await open(url)
  server = opened.server
}, 60_000)
afterAll(async () => {
  await opened?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

const api = (apiPath: string) => opened.api(apiPath)

const checkBinary = (events: ReadonlyArray<any>) => {
  assert.deepStrictEqual(events.map((e) => e.type), ["AvatarRequested", "AvatarUploaded", "Cleared"])
  assert.deepStrictEqual(events[0].data, { by: "ada" })
  assert.notProperty(events[0], "bytes")
  assert.notProperty(events[1], "data")
  assert.strictEqual(events[1].contentType, "image/png")
  assert.deepStrictEqual(new Uint8Array(Buffer.from(events[1].bytes, "base64")), everyByte)
  assert.deepStrictEqual(events[1].metadata, { width: 64 })
  assert.notProperty(events[2], "data")
  assert.strictEqual(events[2].contentType, "application/octet-stream")
  assert.strictEqual(events[2].bytes, "")
}

describe("the console with binary events (SQLite)", () => {
  it("a stream's events: contentType and base64 bytes in place of data", async () => {
    const { body, json } = await api("/api/stream?name=avatar-7")
    checkBinary(json.events)
    assert.notInclude(body, `{"0":`)
  })

  it("the $all tail: the same shape", async () => {
    const received: Array<any> = []
    const req = Http.get({
      host: "127.0.0.1",
      port: server.port,
      path: `/api/tail?token=${Redacted.value(server.token)}`
    })
    await new Promise<void>((resolve, reject) => {
      req.on("response", (res) => {
        let buffer = ""
        res.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8")
          let end: number
          while ((end = buffer.indexOf("\n\n")) !== -1) {
            const frame = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const data = /^data: (.*)$/m.exec(frame)?.[1]
            if (data !== undefined && frame.startsWith("event: event")) received.push(JSON.parse(data))
            if (received.length === 3) resolve()
          }
        })
      })
      req.on("error", reject)
    })
    req.destroy()
    checkBinary(received)
  })

  it("the page says <N bytes, content type> for a binary event's data", async () => {
    const page = await request(server.port, { path: `/?token=${Redacted.value(server.token)}` })
    assert.strictEqual(page.status, 200)
    const script = /<script nonce="[^"]+">([\s\S]*)<\/script>/.exec(page.body)?.[1]
    assert.isDefined(script)
    // The page's own functions, run on what the API answered (the rest of the script needs a DOM).
    const dataText = new Function(
      `${/const pretty = [^\n]*\n/.exec(script!)?.[0]}${/const byteCount = [^\n]*\n/.exec(script!)?.[0]}${
        /const dataText = [\s\S]*?\n};\n/.exec(script!)?.[0]
      }return dataText;`
    )() as (event: unknown) => string
    const { json } = await api("/api/stream?name=avatar-7")
    assert.strictEqual(dataText(json.events[0]), JSON.stringify({ by: "ada" }, null, 2))
    assert.strictEqual(dataText(json.events[1]), "<256 bytes, image/png>")
    assert.strictEqual(dataText(json.events[2]), "<0 bytes, application/octet-stream>")
    for (const n of [1, 2, 3, 4, 5]) {
      assert.strictEqual(
        dataText({ bytes: Buffer.from(new Uint8Array(n)).toString("base64"), contentType: "a/b" }),
        `<${n} byte${n === 1 ? "" : "s"}, a/b>`
      )
    }
  })
})
