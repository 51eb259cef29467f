/**
 * The round trip the CLI is held to: N events (default 100,000) imported into SQLite, copied to
 * PostgreSQL, copied back into a second SQLite file, then compared row by row, byte for byte (ids,
 * streams, versions, types, data and metadata as stored). Prints each step's time, rate and peak
 * memory (RSS of the strata process).
 *
 *   npx node --conditions=@strata/source packages/cli/scripts/roundtrip.ts [events]
 *
 * `STRATA_ROUNDTRIP_HEAP=64` caps each strata process's V8 heap at that many MB
 * (`--max-old-space-size`): the round trip passing with a small cap shows memory stays flat.
 *
 * PostgreSQL: DATABASE_URL (a database the user may CREATE DATABASE from), default
 * postgres://postgres@127.0.0.1:5432/postgres; a fresh database is created and dropped.
 */
import { Event } from "@strata/core"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"

const count = Number(process.argv[2] ?? 100_000)
const admin = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-roundtrip-"))
const bin = path.join(import.meta.dirname, "..", "src", "bin.ts")
const preload = path.join(import.meta.dirname, "peak-rss.mjs")
const heap = process.env["STRATA_ROUNDTRIP_HEAP"]

const psql = (url: string, statement: string) => {
  const r = spawnSync(process.execPath, [
    "--conditions=@strata/source",
    "--input-type=module",
    "-e",
    `import * as PgClient from "@effect/sql-pg/PgClient"
     import * as Effect from "effect/Effect"
     import * as Redacted from "effect/Redacted"
     import * as Reactivity from "effect/reactivity/Reactivity"
     await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
       const sql = yield* PgClient.make({ url: Redacted.make(${JSON.stringify(url)}), maxConnections: 1 })
       yield* sql.unsafe(${JSON.stringify(statement)})
     })).pipe(Effect.provide(Reactivity.layer)))`
  ], { cwd: path.join(import.meta.dirname, ".."), encoding: "utf8" })
  if (r.status !== 0) throw new Error(r.stderr)
}

const strata = (label: string, args: ReadonlyArray<string>, stdin?: string) => {
  const started = performance.now()
  const flags = heap === undefined ? [] : [`--max-old-space-size=${heap}`]
  const r = spawnSync(process.execPath, [...flags, "--conditions=@strata/source", "--import", preload, bin, ...args], {
    stdio: [stdin === undefined ? "ignore" : fs.openSync(stdin, "r"), "pipe", "pipe"],
    encoding: "utf8",
    env: { ...process.env, STRATA_URL: "" }
  })
  const seconds = (performance.now() - started) / 1000
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}):\n${r.stdout}\n${r.stderr}`)
  const rss = Number(/peak-rss-kb (\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024
  console.log(
    `${label.padEnd(22)} ${seconds.toFixed(1).padStart(6)} s  ${
      Math.round(count / seconds).toLocaleString("en-US").padStart(7)
    } events/s  peak RSS ${rss.toFixed(0)} MB`
  )
  return r.stdout
}

// 1,000 streams, events interleaved, ~300-byte payloads with unicode, floats and nesting.
const source = path.join(dir, "events.ndjson")
const out = fs.createWriteStream(source)
const next = new Map<string, number>()
for (let i = 0; i < count; i++) {
  const stream = `account-${(i * 7919) % 1000}`
  const version = next.get(stream) ?? 0
  next.set(stream, version + 1)
  out.write(
    JSON.stringify({
      stream,
      version: String(version),
      id: Event.makeEventId(),
      type: ["Deposited", "Withdrawn", "Renamed"][i % 3],
      ...(i % 5 === 0 ? { schemaVersion: 2 } : {}),
      time: new Date().toISOString(),
      data: {
        amount: i * 0.1,
        currency: "EUR",
        note: `payment ${i} — ünïcødé ✓ ${crypto.randomBytes(40).toString("base64")}`,
        lines: [{ sku: `sku-${i % 97}`, qty: i % 5, big: 2 ** 53 - i }, null, true],
        zero: 0,
        exp: 1e21
      },
      metadata: { correlationId: crypto.randomUUID(), ...(i % 5 === 0 ? { schemaVersion: 2 } : {}) }
    }) + "\n"
  )
}
await new Promise((resolve) => out.end(resolve))
console.log(`${count.toLocaleString("en-US")} events, ${(fs.statSync(source).size / 1e6).toFixed(1)} MB of NDJSON`)

const database = `strata_roundtrip_${crypto.randomBytes(4).toString("hex")}`
psql(admin, `CREATE DATABASE ${database}`)
const pgUrl = Object.assign(new URL(admin), { pathname: `/${database}` }).toString()
const a = `sqlite:${path.join(dir, "a.db")}`
const b = `sqlite:${path.join(dir, "b.db")}`
try {
  strata("import -> SQLite", ["import", "--url", a], source)
  const there = strata("copy SQLite -> PG", ["copy", "--from", a, "--to", pgUrl])
  const back = strata("copy PG -> SQLite", ["copy", "--from", pgUrl, "--to", b])
  for (const report of [there, back]) if (!report.includes("verification: OK")) throw new Error(report)
  const rows = (file: string) =>
    new DatabaseSync(file, { readOnly: true }).prepare(
      "SELECT event_id, stream, version, type, data, metadata FROM strata_events ORDER BY stream, version"
    ).all()
  const left = rows(path.join(dir, "a.db"))
  const right = rows(path.join(dir, "b.db"))
  if (left.length !== count) throw new Error(`the first SQLite file has ${left.length} events`)
  for (let i = 0; i < left.length; i++) {
    if (JSON.stringify(left[i]) !== JSON.stringify(right[i])) {
      throw new Error(`row ${i} differs:\n${JSON.stringify(left[i])}\n${JSON.stringify(right[i])}`)
    }
  }
  console.log(
    `byte-identical: ${left.length.toLocaleString("en-US")} rows (ids, streams, versions, types, data, metadata)`
  )
} finally {
  psql(admin, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  fs.rmSync(dir, { recursive: true, force: true })
}
