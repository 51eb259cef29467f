// The console in a real browser: Debian's Chromium driven by playwright-core clicks through a store
// with a parked event, replays it and sees it handled; a page on another port cannot use the
// console. Fails (never skips) when Chromium is missing: `.ci/run` installs it.
//
// STRATA_CONSOLE_SCREENSHOTS=docs/images writes the guide's screenshots (docs/console.md).
import * as fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type Fixture, seed, start } from "./fixture.ts"

const executablePath = process.env.STRATA_CHROMIUM ?? "/usr/bin/chromium"
const screenshots = process.env.STRATA_CONSOLE_SCREENSHOTS

let fixture: Fixture
let browser: Browser

beforeAll(async () => {
  if (!fs.existsSync(executablePath)) {
    throw new Error(
      `Chromium is not at ${executablePath}: install it (apt-get install -y chromium, as .ci/run does) or set STRATA_CHROMIUM`
    )
  }
  browser = await chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
  })
  fixture = await start()
  await seed(fixture)
})
afterAll(async () => {
  await browser?.close()
  await fixture?.close()
})

const shoot = async (page: Page, name: string) => {
  if (screenshots === undefined) return
  fs.mkdirSync(screenshots, { recursive: true })
  await page.screenshot({ path: path.join(screenshots, `console-${name}.png`) })
}

const parkedCount = () =>
  fetch(`${fixture.server.origin}/api/parked?token=${encodeURIComponent(fixture.server.url.split("token=")[1])}`)
    .then((r) => r.json())
    .then((body: any) => body.parked.length as number)

describe("the console in Chromium", () => {
  it("a page on another port of 127.0.0.1 can neither read the console nor write through it", async () => {
    // The attacker's page knows the URL (token included) and still gets nothing.
    const consoleUrl = fixture.server.url
    const attacker = Http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" })
      res.end("<!doctype html><title>other</title>")
    })
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve))
    const page = await browser.newPage()
    try {
      await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`)
      const outcome = await page.evaluate(async (url) => {
        const api = new URL("/api/parked", url)
        api.search = new URL(url).search
        const read = await fetch(api).then((r) => `read ${r.status}`, (e) => `read blocked: ${e.name}`)
        // A no-cors write cannot carry the token header; the console refuses it.
        await fetch(new URL("/api/parked/discard", url), {
          method: "POST",
          mode: "no-cors",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify({ consumer: "mailer", position: "4" })
        }).catch(() => undefined)
        return read
      }, consoleUrl)
      assert.strictEqual(outcome, "read blocked: TypeError")
      assert.strictEqual(await parkedCount(), 1, "nothing was discarded")
    } finally {
      await page.close()
      attacker.close()
    }
  })

  it("clicks through streams, events and consumers, then replays the parked event", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text())
    })
    try {
      await page.goto(fixture.server.url)
      await page.getByRole("heading", { name: "Overview" }).waitFor()
      assert.strictEqual(await page.locator(".card .value").first().textContent(), "degraded")
      await page.getByText("consumer mailer has 1 parked events").waitFor()
      await shoot(page, "overview")

      await page.getByRole("link", { name: "Streams" }).click()
      await page.getByRole("link", { name: "order-1" }).waitFor()
      await page.getByLabel("prefix").fill("order-")
      await page.getByRole("button", { name: "Search" }).click()
      await page.waitForFunction("!document.body.textContent.includes('mail-1')")
      assert.deepStrictEqual(await page.locator("tbody td:first-child").allTextContents(), ["order-2", "order-1"])
      await shoot(page, "streams")

      await page.getByRole("link", { name: "order-1" }).click()
      await page.getByRole("heading", { name: "Stream order-1" }).waitFor()
      assert.deepStrictEqual(await page.locator(".event .type").allTextContents(), ["OrderPlaced", "OrderPaid"])
      const data = JSON.parse((await page.locator(".event pre.data").first().textContent())!)
      assert.deepStrictEqual(data, { sku: "A-1", qty: 2 })
      assert.include(await page.locator(".event pre.metadata").first().textContent(), "\"correlationId\": \"c-1\"")
      await shoot(page, "stream")

      await page.getByRole("link", { name: "Consumers" }).click()
      const mailer = page.locator("tr[data-consumer=mailer]")
      await mailer.waitFor()
      assert.strictEqual(await mailer.locator("td").nth(5).textContent(), "1", "one parked event")

      await page.getByRole("link", { name: "Parked", exact: true }).click()
      const row = page.locator("tr[data-consumer=mailer]")
      await row.waitFor()
      assert.include(await row.textContent(), "the mail server refused the message")
      // The handler is fixed (the mail server answers again): replay, confirm, handled.
      fixture.state.healed = true
      await row.getByRole("button", { name: "Replay" }).click()
      await page.getByText("Run consumer mailer's handler again on Poison").waitFor()
      await shoot(page, "parked")
      assert.notInclude(fixture.state.handled, "Poison", "nothing happens before the confirmation")
      await page.getByRole("button", { name: "Yes, replay" }).click()
      await page.getByText("Replayed: the handler handled the event.").waitFor()
      assert.include(fixture.state.handled, "Poison")
      await page.locator("#no-parked").waitFor()
      assert.strictEqual(await parkedCount(), 0)

      await page.getByRole("link", { name: "Consumers" }).click()
      await page.locator("tr[data-consumer=mailer]").waitFor()
      assert.strictEqual(await page.locator("tr[data-consumer=mailer] td").nth(5).textContent(), "0")
      assert.deepStrictEqual(errors, [])
    } finally {
      await page.close()
    }
  })

  it("tails $all live", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    try {
      await page.goto(`${fixture.server.url}#/tail`)
      await page.getByText("Live: new events appear at the top.").waitFor()
      await page.locator("#tail .event").nth(3).waitFor()
      const { Effect } = await import("effect")
      const { Event, EventStore } = await import("@strata/core")
      await fixture.run(
        Effect.flatMap(
          EventStore.EventStore,
          (store) => store.append("order-9", [Event.make("OrderShipped", { carrier: "post" })])
        )
      )
      await page.locator("#tail .event").first().getByText("OrderShipped").waitFor()
      await shoot(page, "tail")
    } finally {
      await page.close()
    }
  })
  it("shows what the store holds as text: markup in event data or a stream name is not run", async () => {
    const { Effect } = await import("effect")
    const { Event, EventStore } = await import("@strata/core")
    const markup = "<img src=x onerror=\"window.__injected=1\">"
    await fixture.run(
      Effect.flatMap(
        EventStore.EventStore,
        (store) => store.append("note-<b>1</b>", [Event.make("Noted", { note: markup }, { by: markup })])
      )
    )
    const page = await browser.newPage()
    try {
      await page.goto(`${fixture.server.url}#/stream/${encodeURIComponent("note-<b>1</b>")}`)
      await page.locator(".event pre.data").waitFor()
      assert.include(await page.locator(".event pre.data").textContent(), "<img src=x")
      assert.include(await page.locator("h2").textContent(), "note-<b>1</b>")
      assert.strictEqual(await page.locator("main img, main b").count(), 0, "no element made from the data")
      assert.isUndefined(await page.evaluate("window.__injected"))
    } finally {
      await page.close()
    }
  })
})
