/**
 * What the job benches share (bench/Jobs.ts, bench/jobs-micro.ts, bench/jobs-profile.ts): the
 * hand-written floor's table and drain, and the per-statement CPU counter of the SQLite profiles.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { StatementSync } from "node:sqlite"

/** The floor's job table (created by bench/Jobs.ts's setup). */
export const floorTable = "bench_floor_jobs"

/**
 * The floor's drain: `loops` loops, each taking up to 8 due jobs with one `UPDATE ... WHERE id IN
 * (SELECT ... LIMIT 8)` (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and completing each with an `UPDATE`
 * of its own (8 at once), until none is left.
 */
export const drainFloor = (backend: string, name: string, loops: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const lock = backend === "postgres" ? sql.literal("FOR UPDATE SKIP LOCKED") : sql.literal("")
    const loop = Effect.gen(function*() {
      while (true) {
        const taken = yield* sql<{ id: unknown; payload: string }>`UPDATE ${sql(floorTable)} SET state = 'running'
WHERE id IN (SELECT id FROM ${sql(floorTable)} WHERE queue = ${name} AND state = 'pending' AND run_at <= ${Date.now()}
  ORDER BY run_at, id LIMIT 8 ${lock})
RETURNING id, payload`
        if (taken.length === 0) return
        yield* Effect.forEach(taken, (row) => {
          JSON.parse(row.payload)
          return sql`UPDATE ${sql(floorTable)} SET state = 'done' WHERE id = ${row.id}`
        }, { discard: true, concurrency: 8 })
      }
    })
    yield* Effect.all(Array.from({ length: loops }, () => loop), { concurrency: "unbounded", discard: true })
  })

/**
 * Counts the main thread's CPU inside each node:sqlite call, by statement text (its first `width`
 * characters), while `counting()` is true. Patches `StatementSync`'s prototype: profiles only.
 */
export const countStatements = (width: number, counting: () => boolean = () => true) => {
  const statements = new Map<string, { calls: number; us: number }>()
  for (const method of ["all", "run", "get"] as const) {
    const original = StatementSync.prototype[method] as (...args: Array<unknown>) => unknown
    Object.defineProperty(StatementSync.prototype, method, {
      value: function(this: StatementSync, ...args: Array<unknown>) {
        if (!counting()) return original.apply(this, args)
        const start = process.threadCpuUsage()
        try {
          return original.apply(this, args)
        } finally {
          const spent = process.threadCpuUsage(start)
          const text = this.sourceSQL.replace(/\s+/g, " ").slice(0, width)
          const entry = statements.get(text) ?? { calls: 0, us: 0 }
          entry.calls++
          entry.us += spent.user + spent.system
          statements.set(text, entry)
        }
      }
    })
  }
  return statements
}
