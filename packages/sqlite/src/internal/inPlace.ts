// Statements run in place inside a transaction of the client.
//
// effect/sql runs every statement as a chain of fiber steps: a span (which Effect's default tracer
// keeps in memory for nobody), the transformer lookup, the compile, the choice between the
// transaction's connection and a borrowed one, the connection's execute, the span's end. On SQLite
// that chain cost ~4 us of client CPU per statement where node:sqlite runs a one-row upsert in ~1.3
// (issue 23: a consumer's handler runs one such statement per event, inside the consumer's
// transaction). Inside one of the client's transactions the connection is already this fiber's (the
// transaction holds it) and node:sqlite is synchronous, so the statement runs in the very step that
// evaluates it and its exit is the step's result.
//
// The in-place step is taken only where it changes nothing anyone can see: inside a transaction that
// is still open, with no `Statement.CurrentTransformer`, and with no tracer that exports spans (with
// one installed, or outside a transaction, the statement runs effect's way, span included). Only
// plain execution (`yield* sql\`...\``) is affected; `.raw`, `.values`, `.stream`, `.unprepared`
// and `withoutTransforms()` statements run as before.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Client from "effect/sql/SqlClient"
import * as Statement from "effect/sql/Statement"
import * as Tracer from "effect/Tracer"

// The property the fiber's run loop evaluates an effect through, found from Effect's public
// prototype maker rather than spelled out (it is an internal name).
const evaluateKey: string | undefined = (() => {
  const probe = () => Effect.void
  const proto = Effectable.Prototype({ label: "probe", evaluate: probe }) as unknown as Record<string, unknown>
  return Object.keys(proto).find((key) => proto[key] === probe)
})()

type Evaluate = (this: Statement.Statement<unknown>, fiber: Fiber.Fiber<unknown, unknown>) => unknown

interface Internals {
  readonly transformRows: (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
}

/**
 * `client` whose statements, when run inside one of its transactions, execute in place through
 * `execute` (the connection's synchronous statement: rows, or a thrown error turned into a
 * `SqlError` by `failure`). Returns `client` itself where Effect's internals are not as expected.
 */
export const make = <C extends Client.SqlClient>(
  client: C,
  execute: (sql: string, params: ReadonlyArray<unknown>, fiber: Fiber.Fiber<unknown, unknown>) => ReadonlyArray<any>,
  failure: (cause: unknown) => unknown
): C => {
  if (evaluateKey === undefined) return client
  const key = evaluateKey
  const sample = client.unsafe("SELECT 1") as unknown as Record<string, unknown>
  const standard = sample[key] as Evaluate | undefined
  if (typeof standard !== "function" || !("transformRows" in sample)) return client
  const { transactionService } = client

  const evaluate: Evaluate = function(fiber) {
    const transaction = Context.getOrUndefined(fiber.context, transactionService)
    if (transaction === undefined) return standard.call(this, fiber)
    // The tracer from the fiber's cache of its context (`undefined`: Effect's native tracer, which
    // exports nothing): two context lookups per statement less than `getRef`.
    const { tracer, tracerEnabled } = fiber.cache
    if (
      (tracerEnabled && tracer !== undefined && tracer !== Tracer.nativeTracer) ||
      fiber.getRef(Statement.CurrentTransformer) !== undefined
    ) {
      return standard.call(this, fiber)
    }
    // A transaction that has ended (a fiber forked inside it still carries it) fails as effect's does.
    const active = Client.activeTransactionConnection(transaction)
    if (!Exit.isExit(active) || !Exit.isSuccess(active)) return standard.call(this, fiber)
    try {
      const [sql, params] = this.compile()
      const rows = execute(sql, params, fiber)
      const { transformRows } = this as unknown as Internals
      return Exit.succeed(transformRows === undefined ? rows : transformRows(rows))
    } catch (cause) {
      return Exit.fail(failure(cause))
    }
  }

  // Each statement the client makes gets the in-place evaluation as its own property.
  const mark = <A>(statement: A): A => {
    ;(statement as unknown as Record<string, unknown>)[key] = evaluate
    return statement
  }
  const template = client as unknown as (...args: Array<any>) => unknown
  const sql = function sql(strings: unknown, ...args: Array<unknown>) {
    const made = template(strings, ...args)
    return typeof strings === "string" ? made : mark(made)
  }
  const fast = Object.assign(sql, client, {
    unsafe: (text: string, params?: ReadonlyArray<unknown>) => mark(client.unsafe(text, params))
  }) as unknown as C
  ;(fast as unknown as { safe: unknown }).safe = fast
  return fast
}
