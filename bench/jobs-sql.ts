/**
 * `node bench/jobs-sql.ts [variant ...]` (ROUNDS=5, JOBS=4000, LIMIT=8, COMPLETE=LIMIT from the environment)
 *
 * SQLite's own CPU per job for the job table and its statements (issue 24), without Effect, the
 * worker or the SqlClient: `node:sqlite` directly, WAL and `synchronous = NORMAL` with a
 * checkpointer thread as `SqliteStore` runs them. Each round and variant gets a fresh file,
 * a finished backlog of 4,000 jobs, then `JOBS` jobs enqueued one INSERT each and drained by takes of
 * `LIMIT` with one completion statement per `COMPLETE` jobs of a take (the floor: one UPDATE per job,
 * as bench/Jobs.ts).
 * Prints the main thread's CPU per job (user + system) for enqueue, take and complete, and every
 * thread's for the drain, medians over the rounds (variants interleaved within each round).
 *
 * The variants price the schema: Strata's table and statements as migrated (`strata`); taking by
 * rowid (`rowid`); without the finished-jobs index (`nofinished`), also without the listing index
 * (`nolisted`); and Strata's row with the floor's one index (`dueonly`: no key, lease, listing or
 * purge index, so what the row and the statements cost on their own).
 */
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import { Worker } from "node:worker_threads"
import { payloadJson } from "./Workloads.ts"

const jobs = Number(process.env.JOBS ?? 4000)
const limit = Number(process.env.LIMIT ?? 8)
// Jobs per completion statement (default: a take's).
const completeEvery = Number(process.env.COMPLETE ?? limit)
const rounds = Number(process.env.ROUNDS ?? 5)
const payload = JSON.stringify({ n: 0, body: JSON.parse(payloadJson) })
const owner = `worker-${randomUUID()}`

// SqliteStore's checkpointer (packages/sqlite/src/Checkpointer.ts): a PASSIVE checkpoint every 5 ms.
const checkpointer = `
const { DatabaseSync } = require("node:sqlite")
const { parentPort, workerData } = require("node:worker_threads")
const db = new DatabaseSync(workerData.filename)
db.exec("PRAGMA busy_timeout = 0")
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)")
const tick = () => { try { checkpoint.get() } catch {} }
const timer = setInterval(tick, 5)
parentPort.once("message", () => { clearInterval(timer); tick(); db.close(); parentPort.close() })
`

// Time-ordered ids, as Event.makeEventId's UUIDv7 (inserts append to the id index).
let sequence = 0
const makeId = () => {
  const time = Date.now().toString(16).padStart(12, "0")
  sequence = (sequence + 1) & 0xfff
  return `${time.slice(0, 8)}-${time.slice(8)}-7${sequence.toString(16).padStart(3, "0")}-${randomUUID().slice(19)}`
}

interface Row {
  readonly seq?: unknown
  readonly id: unknown
  readonly payload: string
  readonly attempts?: unknown
}

interface Api {
  readonly enqueue: (queue: string) => void
  readonly take: (queue: string) => ReadonlyArray<Row>
  readonly complete: (rows: ReadonlyArray<Row>) => void
}

interface Variant {
  readonly schema: ReadonlyArray<string>
  readonly make: (db: DatabaseSync) => Api
}

const floor: Variant = {
  schema: [
    `CREATE TABLE bench_floor_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, state TEXT NOT NULL,
      run_at INTEGER NOT NULL, payload TEXT NOT NULL)`,
    `CREATE INDEX bench_floor_jobs_due ON bench_floor_jobs (queue, run_at, id) WHERE state = 'pending'`
  ],
  make: (db) => {
    const insert = db.prepare(
      `INSERT INTO bench_floor_jobs (queue, state, run_at, payload) VALUES (?, 'pending', ?, ?)`
    )
    const take = db.prepare(`UPDATE bench_floor_jobs SET state = 'running'
WHERE id IN (SELECT id FROM bench_floor_jobs WHERE queue = ? AND state = 'pending' AND run_at <= ? ORDER BY run_at, id LIMIT ?)
RETURNING id, payload`)
    const done = db.prepare(`UPDATE bench_floor_jobs SET state = 'done' WHERE id = ?`)
    return {
      enqueue: (queue) => void insert.run(queue, Date.now(), payload),
      take: (queue) => take.all(queue, Date.now(), limit) as unknown as ReadonlyArray<Row>,
      complete: (rows) => {
        for (const row of rows) done.run(row.id as SQLInputValue)
      }
    }
  }
}

// SqlJobs.migrations 1 and 2, as SQLite holds them.
const table = `CREATE TABLE strata_jobs (id text PRIMARY KEY, queue text NOT NULL, job_key text, payload text NOT NULL,
  priority integer NOT NULL DEFAULT 0, state text NOT NULL, run_at bigint NOT NULL, attempts integer NOT NULL DEFAULT 0,
  last_error text, owner text, lease_expires_at bigint, created_at bigint NOT NULL, updated_at bigint NOT NULL,
  trace_id text, span_id text)`
const index = {
  key:
    `CREATE UNIQUE INDEX strata_jobs_key ON strata_jobs (queue, job_key) WHERE job_key IS NOT NULL AND state IN ('pending', 'running')`,
  due:
    `CREATE INDEX strata_jobs_due ON strata_jobs (queue, priority DESC, run_at, created_at, id) WHERE state = 'pending'`,
  leased: `CREATE INDEX strata_jobs_leased ON strata_jobs (queue, lease_expires_at) WHERE state = 'running'`,
  listed: `CREATE INDEX strata_jobs_listed ON strata_jobs (queue, created_at, id)`,
  finished:
    `CREATE INDEX strata_jobs_finished ON strata_jobs (updated_at) WHERE state IN ('succeeded', 'dead', 'cancelled')`
}

// SqlJobs' enqueue, take and completion statements; `by` is what the take selects rows by.
const strata = (schema: ReadonlyArray<string>, by: "id" | "rowid"): Variant => ({
  schema,
  make: (db) => {
    const insert = db.prepare(`INSERT INTO strata_jobs
(id, queue, job_key, payload, priority, state, run_at, attempts, created_at, updated_at, trace_id, span_id)
VALUES (?, ?, ?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?)
ON CONFLICT DO NOTHING RETURNING id`)
    const take = db.prepare(`UPDATE strata_jobs SET state = 'running', owner = ?, lease_expires_at = ?,
  attempts = attempts + 1, updated_at = ?
WHERE ${by} IN (SELECT ${by} FROM strata_jobs WHERE queue = ? AND state = 'pending' AND run_at <= ?
  ORDER BY priority DESC, run_at, created_at, id LIMIT ?)
RETURNING id, queue, job_key, payload, priority, attempts, run_at, created_at, trace_id, span_id`)
    const completes: Array<StatementSync> = []
    const complete = (count: number) =>
      completes[count] ??= db.prepare(
        `UPDATE strata_jobs SET state = 'succeeded', owner = NULL, lease_expires_at = NULL,
  updated_at = ?
WHERE state = 'running' AND (${
          Array.from({ length: count }, () => "(id = ? AND owner = ? AND attempts = ?)").join(" OR ")
        })
RETURNING id`
      )
    return {
      enqueue: (queue) => {
        const now = Date.now()
        insert.all(
          makeId(),
          queue,
          null,
          payload,
          0,
          now,
          now,
          now,
          "864e3696de2db78aa8fa83e174276005",
          "1eb7c5841199fcf6"
        )
      },
      take: (queue) => {
        const now = Date.now()
        return take.all(owner, now + 30_000, now, queue, now, limit) as unknown as ReadonlyArray<Row>
      },
      complete: (rows) => {
        const params: Array<SQLInputValue> = [Date.now()]
        for (const row of rows) params.push(row.id as SQLInputValue, owner, row.attempts as SQLInputValue)
        complete(rows.length).all(...params)
      }
    }
  }
})

const variants: Record<string, Variant> = {
  floor,
  strata: strata([table, index.key, index.due, index.leased, index.listed, index.finished], "id"),
  rowid: strata([table, index.key, index.due, index.leased, index.listed, index.finished], "rowid"),
  nofinished: strata([table, index.key, index.due, index.leased, index.listed], "rowid"),
  nolisted: strata([table, index.key, index.due, index.leased], "rowid"),
  dueonly: strata([table, index.due], "rowid")
}

const cpu = (usage: NodeJS.CpuUsage) => usage.user + usage.system
const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(variants)
const seen: Record<string, Record<string, Array<number>>> = {}
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-jobs-sql-"))
try {
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      const variant = variants[name]
      if (variant === undefined) throw new Error(`unknown variant ${name}: ${Object.keys(variants).join(", ")}`)
      const filename = Path.join(dir, `${name}-${round}.db`)
      const db = new DatabaseSync(filename)
      db.exec("PRAGMA journal_mode = WAL")
      db.exec("PRAGMA synchronous = NORMAL")
      db.exec("PRAGMA wal_autocheckpoint = 4000")
      const worker = new Worker(checkpointer, { eval: true, workerData: { filename } })
      for (const statement of variant.schema) db.exec(statement)
      const api = variant.make(db)
      const phase = { enqueue: 0, take: 0, complete: 0, drainAll: 0 }
      const cycle = (queue: string, count: number, measure: boolean) => {
        let main = process.threadCpuUsage()
        for (let i = 0; i < count; i++) api.enqueue(queue)
        if (measure) phase.enqueue += cpu(process.threadCpuUsage(main))
        const all = process.cpuUsage()
        while (true) {
          main = process.threadCpuUsage()
          const rows = api.take(queue)
          if (measure) phase.take += cpu(process.threadCpuUsage(main))
          if (rows.length === 0) break
          for (const row of rows) JSON.parse(row.payload)
          main = process.threadCpuUsage()
          for (let i = 0; i < rows.length; i += completeEvery) api.complete(rows.slice(i, i + completeEvery))
          if (measure) phase.complete += cpu(process.threadCpuUsage(main))
        }
        if (measure) phase.drainAll += cpu(process.cpuUsage(all))
      }
      cycle("warm", 500, false)
      // A backlog of finished jobs, as a queue in use has.
      cycle("old", 4000, false)
      cycle("measured", jobs, true)
      worker.postMessage("stop")
      await new Promise((resolve) => worker.once("exit", resolve))
      db.close()
      const entry = seen[name] ??= { enqueue: [], take: [], complete: [], drain: [], drainAll: [] }
      entry.enqueue.push(phase.enqueue / jobs)
      entry.take.push(phase.take / jobs)
      entry.complete.push(phase.complete / jobs)
      entry.drain.push((phase.take + phase.complete) / jobs)
      entry.drainAll.push(phase.drainAll / jobs)
    }
  }
} finally {
  Fs.rmSync(dir, { recursive: true, force: true })
}
const median = (values: ReadonlyArray<number>) =>
  Math.round([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] * 10) / 10
console.log("us CPU per job (medians): enqueue, take, complete, drain (main thread), drain (every thread)")
for (const [name, entry] of Object.entries(seen)) {
  console.log(JSON.stringify({
    variant: name,
    enqueue: median(entry.enqueue),
    take: median(entry.take),
    complete: median(entry.complete),
    drain: median(entry.drain),
    drainAll: median(entry.drainAll)
  }))
}
