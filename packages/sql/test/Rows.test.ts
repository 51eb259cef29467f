// Event rows as each driver hands them over: a binary event's bytes in every form a driver gives
// (node:sqlite's fresh Uint8Array, a Uint8Array over a shared buffer, D1's number array and its
// ArrayBuffer, D1's hex text where its dialect selects hex(data_bytes), PostgreSQL's \x text), and a
// row of values decoded in Rows.eventColumns order.
import { assert, describe, it } from "@effect/vitest"
import { Rows, SqliteDialect } from "@strata/sql"

const everyByte = () => Uint8Array.from({ length: 256 }, (_, i) => i)
const hex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")

describe("Rows", () => {
  it("bytesOf reads every form a driver hands over, into an array of the caller's own", () => {
    const bytes = everyByte()
    assert.deepStrictEqual(Rows.bytesOf(Array.from(bytes)), bytes)
    assert.deepStrictEqual(Rows.bytesOf(bytes.buffer.slice(0)), bytes)
    assert.deepStrictEqual(Rows.bytesOf(`\\x${hex(bytes)}`), bytes)
    // SQLite's hex() is upper case, without a prefix (D1's event reads).
    assert.deepStrictEqual(Rows.bytesOf(hex(bytes).toUpperCase()), bytes)
    assert.deepStrictEqual(Rows.bytesOf(""), new Uint8Array(0))
    assert.deepStrictEqual(Rows.bytesOf("\\x"), new Uint8Array(0))
    // A view into a larger buffer is copied, even when fresh.
    const shared = new Uint8Array(16)
    const view = shared.subarray(4, 8)
    const copied = Rows.bytesOf(view, true)
    assert.notStrictEqual(copied.buffer, shared.buffer)
    assert.strictEqual(copied.byteLength, 4)
    // A fresh array of its own is kept; without `fresh` it is copied.
    const own = Uint8Array.of(1, 2, 3)
    assert.strictEqual(Rows.bytesOf(own, true), own)
    assert.notStrictEqual(Rows.bytesOf(own), own)
  })

  it("bytesOf refuses what is not bytes (a defect: rows come from Strata's own schema)", () => {
    assert.throws(() => Rows.bytesOf("0g"), /not hex/)
    assert.throws(() => Rows.bytesOf("abc"), /not hex/)
    assert.throws(() => Rows.bytesOf(42), /number/)
  })

  it("fromValues decodes JSON and binary rows, with hex bytes as D1 selects them", () => {
    const decode = Rows.fromValues(SqliteDialect.dialect)
    const base = [7n, "0193b3c4-0000-7000-8000-000000000001", "blob-1", 2n, "Blob"] as const
    const json = decode([...base, "{\"a\":1}", "{}", 1_700_000_000_000, null, null, null])
    assert.deepStrictEqual(json.data, { a: 1 })
    assert.isUndefined(json.contentType)
    assert.strictEqual(json.position, 7n)
    assert.strictEqual(json.version, 2n)
    const binary = decode([...base, "null", "{}", 1_700_000_000_000, "[\"t:1\"]", "image/png", "00FF10"])
    assert.deepStrictEqual(binary.data, Uint8Array.of(0, 255, 16))
    assert.strictEqual(binary.contentType, "image/png")
    assert.deepStrictEqual(binary.tags, ["t:1"])
    const empty = decode([...base, "null", "{}", 1_700_000_000_000, null, "application/octet-stream", ""])
    assert.deepStrictEqual(empty.data, new Uint8Array(0))
  })

  it("columnsOf is the dialect's select list, else eventColumns", () => {
    assert.strictEqual(Rows.columnsOf(SqliteDialect.dialect), Rows.eventColumns)
    const hexed = Rows.eventColumns.replace("data_bytes", "hex(data_bytes)")
    assert.strictEqual(Rows.columnsOf({ ...SqliteDialect.dialect, eventColumns: hexed }), hexed)
  })
})
