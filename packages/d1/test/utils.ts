/**
 * D1 test fixtures: one Miniflare (workerd) instance with an in-memory D1 database per test file.
 *
 * - `D1TestDatabase`: starts Miniflare (`new Miniflare({ modules: true, script, d1Databases: ["DB"] })`, random
 *   port), exposes the raw `D1Database` binding from `await mf.getD1Database("DB")`, and disposes Miniflare when
 *   the layer's scope closes. If workerd cannot start, building the layer fails and every test fails. `worker` is
 *   the same database with each statement run by the instance's Worker (one request, no synchronous proxy round
 *   trips): the conformance suites use it.
 * - `D1TestDatabase.layerClient`: `D1Client` + `SqlClient` (@effect/sql-d1 `D1Client.layer({ db })`) on that
 *   binding, plus `D1TestDatabase` itself.
 *
 * Driver facts pinned by D1Driver.test.ts (@effect/sql-d1 4.0.0-rc.118 on effect 4.1.0, miniflare 4.20260426.0):
 * - rc.118 loads and runs on effect 4.1.0: it imports only `effect/sql/*`, `effect/reactivity/Reactivity`,
 *   `effect/Cache` etc., which 4.1.0 has (no `effect/unstable/*`). Its peer range `^4.0.0-rc.118` would also
 *   accept a breaking effect 4.x, so keep it pinned exactly.
 * - `D1Client.layer(config: D1ClientConfig): Layer<D1Client | SqlClient, ConfigError>` with
 *   `{ db: D1Database, prepareCacheSize?, prepareCacheTTL?, spanAttributes?, transformResultNames?,
 *   transformQueryNames? }`. `D1Client.make(config)` needs `Scope | Reactivity`.
 * - `withTransaction` is a DEFECT, not a typed error: the driver's transaction acquirer is
 *   `Effect.die("transactions are not supported in D1")`; the body never runs.
 * - `D1Client.batch([sql\`...\`, ...])` runs the statements as one atomic `D1Database.batch()`: one failing
 *   statement (e.g. a UNIQUE conflict) rolls back every statement of the batch; results come back per statement.
 * - Every D1 failure is `SqlError` with reason `UnknownError` (the driver's classifyError maps nothing), so
 *   `isRetryable` is false and `catchReason("SqlError", "UniqueViolation")` never fires. The reason's message is
 *   generic ("Failed to execute statement" / "Failed to execute batch"); the native error is
 *   `error.reason.cause`, an `Error` whose message is, for a single statement and for a batch alike:
 *   `D1_ERROR: UNIQUE constraint failed: events.stream, events.version: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_UNIQUE)`
 *   (primary key: `... failed: pk.id: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_PRIMARYKEY)`; NOT NULL:
 *   `D1_ERROR: NOT NULL constraint failed: events.stream: ... (extended: SQLITE_CONSTRAINT_NOTNULL)`).
 *   The store must match the cause's message, e.g. /UNIQUE constraint failed: events\.stream, events\.version/.
 * - Expected-version guards inside a batch: a named CHECK constraint fails the whole batch with
 *   `D1_ERROR: CHECK constraint failed: <name>: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_CHECK)`; a trigger's
 *   `RAISE(ABORT, 'msg')` with `D1_ERROR: msg: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_TRIGGER)`. RAISE()
 *   outside a trigger is an error ("RAISE() may only be used within a trigger-program").
 * - INTEGER columns come back as JS `number`; bigint parameters are rejected by D1 (SqlError UnknownError,
 *   cause message "D1_TYPE_ERROR: Type 'bigint' not supported for value '1'"): convert to number. Values above
 *   2^53 lose precision (D1 passes numbers as doubles); keep versions/positions below 2^53.
 * - json_extract / ->> / json_group_array work; RETURNING works, also inside a batch.
 */
import * as D1Client from "@effect/sql-d1/D1Client"
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import { Miniflare } from "miniflare"

// Statements reach D1 through a Worker in the same workerd, one HTTP request each (`dispatchFetch`).
// Miniflare's proxy for `getD1Database` costs three synchronous round trips per statement (`bind`,
// the bound statement's `all`, its call), each blocking Node's event loop with `Atomics.wait`, plus
// one to await the result: every fiber of the test stalls while any statement runs. The Worker runs
// each statement on its real D1 binding, as a deployed Worker does; values cross as JSON, with bytes
// and bigints tagged so they reach D1 as the binding would pass them.
const worker = `
const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
const toBase64 = (bytes) => {
  let text = ""
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(text)
}
const revive = (key, value) => {
  if (value === null || typeof value !== "object") return value
  if ("$u8" in value) return fromBase64(value.$u8)
  if ("$ab" in value) return fromBase64(value.$ab).buffer
  if ("$bigint" in value) return BigInt(value.$bigint)
  if ("$undefined" in value) return undefined
  return value
}
const replace = (key, value) =>
  value instanceof ArrayBuffer ? { $ab: toBase64(new Uint8Array(value)) }
  : ArrayBuffer.isView(value) ? { $u8: toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) }
  : value
const statement = (db, { sql, params }) => db.prepare(sql).bind(...params)
const run = (db, op) => {
  switch (op.kind) {
    case "all": return statement(db, op).all()
    case "run": return statement(db, op).run()
    case "raw": return statement(db, op).raw(op.options)
    case "first": return op.column === undefined ? statement(db, op).first() : statement(db, op).first(op.column)
    case "batch": return db.batch(op.statements.map((s) => statement(db, s)))
    case "exec": return db.exec(op.sql)
  }
  throw new Error("unknown operation " + op.kind)
}
const describe = (error) => error instanceof Error
  ? { name: error.name, message: error.message, cause: error.cause === undefined ? undefined : describe(error.cause) }
  : { name: "Error", message: String(error) }
export default {
  async fetch(request, env) {
    const op = JSON.parse(await request.text(), revive)
    try {
      return new Response(JSON.stringify({ result: await run(env.DB, op) }, replace))
    } catch (error) {
      return new Response(JSON.stringify({ error: describe(error) }))
    }
  }
}
`

type Described = { readonly name: string; readonly message: string; readonly cause?: Described | undefined }

const toError = (described: Described): Error => {
  const error = new Error(
    described.message,
    described.cause === undefined ? undefined : { cause: toError(described.cause) }
  )
  error.name = described.name
  return error
}

const replace = (_key: string, value: unknown): unknown =>
  typeof value === "bigint"
    ? { $bigint: value.toString() }
    : value === undefined
    ? { $undefined: true }
    : value instanceof ArrayBuffer
    ? { $ab: Buffer.from(value).toString("base64") }
    : ArrayBuffer.isView(value)
    ? { $u8: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") }
    : value

const revive = (_key: string, value: unknown): unknown => {
  if (value === null || typeof value !== "object") return value
  if ("$u8" in value) return new Uint8Array(Buffer.from((value as { $u8: string }).$u8, "base64"))
  if ("$ab" in value) {
    const bytes = Buffer.from((value as { $ab: string }).$ab, "base64")
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  }
  return value
}

// A `D1Database` whose statements run in the Worker above: `prepare` and `bind` stay in this process.
const workerDatabase = (miniflare: Miniflare): D1Database => {
  const call = async (op: object): Promise<any> => {
    const response = await miniflare.dispatchFetch("http://d1.test/", {
      method: "POST",
      body: JSON.stringify(op, replace)
    })
    const body = JSON.parse(await response.text(), revive) as { result?: unknown; error?: Described }
    if (body.error !== undefined) throw toError(body.error)
    return body.result
  }
  const statement = (sql: string, params: ReadonlyArray<unknown>) => ({
    sql,
    params,
    bind: (...values: Array<unknown>) => statement(sql, values),
    all: () => call({ kind: "all", sql, params }),
    run: () => call({ kind: "run", sql, params }),
    raw: (options?: { columnNames?: boolean }) => call({ kind: "raw", sql, params, options }),
    first: (column?: string) => call({ kind: "first", sql, params, column })
  })
  return {
    prepare: (sql: string) => statement(sql, []),
    batch: (statements: ReadonlyArray<{ sql: string; params: ReadonlyArray<unknown> }>) =>
      call({ kind: "batch", statements: statements.map(({ params, sql }) => ({ sql, params })) }),
    exec: (sql: string) => call({ kind: "exec", sql })
  } as unknown as D1Database
}

/** Raised when Miniflare cannot start: fails the test file loudly. */
export class D1TestSetupError extends Error {
  override readonly name = "D1TestSetupError"
}

/** The D1Database type as @effect/sql-d1 declares it. */
export type D1Database = D1Client.D1ClientConfig["db"]

/** A Miniflare instance with one D1 binding ("DB"), disposed when the scope closes. */
export class D1TestDatabase extends Context.Service<D1TestDatabase, {
  readonly miniflare: Miniflare
  /** The raw D1 binding, for what the Effect client does not expose (e.g. `exec`). */
  readonly db: D1Database
  /**
   * The same database with each statement run by a Worker in the same workerd (one request, no
   * synchronous proxy round trips): for the suites whose thousands of statements would block the
   * event loop through `db`.
   */
  readonly worker: D1Database
}>()("@strata/d1/test/D1TestDatabase") {
  static readonly layer: Layer.Layer<D1TestDatabase, D1TestSetupError> = Layer.effect(D1TestDatabase)(
    Effect.gen(function*() {
      const miniflare = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const mf = new Miniflare({
              modules: true,
              script: worker,
              d1Databases: ["DB"],
              host: "127.0.0.1",
              port: 0 // random: test files run in parallel
            })
            await mf.ready
            return mf
          },
          catch: (cause) =>
            new D1TestSetupError(
              `Miniflare failed to start: ${cause instanceof Error ? cause.message : String(cause)}`,
              { cause }
            )
        }),
        (mf) => Effect.promise(() => mf.dispose().catch(() => undefined))
      )
      const db = yield* Effect.tryPromise({
        try: () => miniflare.getD1Database("DB"),
        catch: (cause) => new D1TestSetupError("Miniflare has no D1 binding DB", { cause })
      })
      // miniflare types the binding with @cloudflare/workers-types/experimental, @effect/sql-d1 with the stable
      // entry point: the same runtime object.
      return { miniflare, db: db as unknown as D1Database, worker: workerDatabase(miniflare) }
    })
  )

  /** `D1Client` and `SqlClient` on this file's D1 database, plus `D1TestDatabase` for the raw binding. */
  static readonly layerClient: Layer.Layer<
    D1Client.D1Client | SqlClient.SqlClient | D1TestDatabase,
    D1TestSetupError | Config.ConfigError
  > = Layer.unwrap(Effect.map(D1TestDatabase, ({ db }) => D1Client.layer({ db }))).pipe(
    Layer.provideMerge(this.layer)
  )
}
