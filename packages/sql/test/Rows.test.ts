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

  it("fromValues shares repeated flat metadata as one frozen object, and nothing else", () => {
    const decode = Rows.fromValues(SqliteDialect.dialect)
    const row = (metadata: unknown) =>
      decode([1n, "0193b3c4-0000-7000-8000-000000000001", "s-1", 0n, "T", "{}", metadata, 0, null, null, null])
    // Without metadata: one frozen empty object for every such event.
    const [a, b] = [row("{}"), row("{}")]
    assert.deepStrictEqual(a.metadata, {})
    assert.strictEqual(a.metadata, b.metadata)
    assert.isTrue(Object.isFrozen(a.metadata))
    // A text seen twice in a row is shared from the second event on; the first keeps its own.
    const versioned = "{\"schemaVersion\":1}"
    const [first, second, third] = [row(versioned), row(versioned), row(versioned)]
    for (const event of [first, second, third]) assert.deepStrictEqual(event.metadata, { schemaVersion: 1 })
    assert.isFalse(Object.isFrozen(first.metadata))
    assert.notStrictEqual(first.metadata, second.metadata)
    assert.strictEqual(second.metadata, third.metadata)
    assert.isTrue(Object.isFrozen(second.metadata))
    // Other metadata in between is its own, and the shared one is still right after it.
    const other = row("{\"correlationId\":\"c-1\"}")
    assert.deepStrictEqual(other.metadata, { correlationId: "c-1" })
    assert.isFalse(Object.isFrozen(other.metadata))
    assert.strictEqual(row(versioned).metadata, second.metadata)
    // Nested metadata is never shared: freezing the top would leave the inner object mutable.
    const nested = "{\"user\":{\"id\":\"u-1\"}}"
    const [n1, n2] = [row(nested), row(nested)]
    assert.notStrictEqual(n1.metadata, n2.metadata)
    assert.isFalse(Object.isFrozen(n2.metadata))
    assert.deepStrictEqual(n2.metadata, { user: { id: "u-1" } })
    // Metadata the driver parsed itself (PostgreSQL): an empty object is the shared one, others kept.
    assert.strictEqual(row({}).metadata, a.metadata)
    const parsed = { schemaVersion: 2 }
    assert.strictEqual(row(parsed).metadata, parsed)
  })

  it("columnsOf is the dialect's select list, else eventColumns", () => {
    assert.strictEqual(Rows.columnsOf(SqliteDialect.dialect), Rows.eventColumns)
    const hexed = Rows.eventColumns.replace("data_bytes", "hex(data_bytes)")
    assert.strictEqual(Rows.columnsOf({ ...SqliteDialect.dialect, eventColumns: hexed }), hexed)
  })
})
