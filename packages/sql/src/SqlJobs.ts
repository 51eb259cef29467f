/**
 * The SQL `JobStore` (job queues), shared by PostgreSQL, SQLite and D1: one row per job in
 * `strata_jobs`, queue names in `strata_job_queues`, under a migration set of its own
 * ({@link migrations}, recorded in `strata_job_migrations`), because a queue's database may differ
 * from the event store's.
 *
 * Every operation is one statement, so it is atomic on every database, D1 included:
 * - `take` is an `UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`: PostgreSQL's subquery
 *   locks with `FOR UPDATE SKIP LOCKED`, so concurrent takers (any number of processes) skip each
 *   other's rows instead of waiting or taking them twice; SQLite and D1 run it under their single
 *   writer.
 * - `renew`, `complete`, `fail` and `release` are fenced by the take: `WHERE owner = ? AND
 *   attempts = ? AND state = 'running'`.
 * - A key de-duplicates through a partial unique index on `(queue, job_key)` over pending and
 *   running jobs: `INSERT ... ON CONFLICT DO NOTHING`, then the holder's id.
 *
 * Enqueued through the SqlClient that runs the caller's transaction (the event store's, in a unit of
 * work), a job commits with it: that is the outbox. Outside a transaction on `node:sqlite`, the
 * enqueues of concurrent fibers in one turn of the scheduler are written by one multi-row INSERT.
 *
 * @since 0.1.0
 */
import { JobQueue, JobStore, StoreError } from "@strata/core"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { Dialect, Migration } from "./Dialect.ts"
import * as Migrator from "./Migrator.ts"

// The partial index of finished jobs is used by a statement only when its WHERE repeats this
// predicate word for word (SQLite's rule; PostgreSQL proves the implication from it too).
const finishedPredicate = "state IN ('succeeded', 'dead', 'cancelled')"

/**
 * The job tables, for PostgreSQL and SQLite/D1 alike (the types are ones both accept; every
 * statement is idempotent, so a run that died half-way is completed by the next).
 *
 * @category migrations
 * @since 0.1.0
 */
export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "create_job_queue",
    statements: [
      `CREATE TABLE IF NOT EXISTS strata_jobs (
  id text PRIMARY KEY,
  queue text NOT NULL,
  job_key text,
  payload text NOT NULL,
  priority integer NOT NULL DEFAULT 0,
  state text NOT NULL,
  run_at bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  owner text,
  lease_expires_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  trace_id text,
  span_id text
)`,
      `CREATE UNIQUE INDEX IF NOT EXISTS strata_jobs_key ON strata_jobs (queue, job_key) WHERE job_key IS NOT NULL AND state IN ('pending', 'running')`,
      `CREATE INDEX IF NOT EXISTS strata_jobs_due ON strata_jobs (queue, priority DESC, run_at, created_at, id) WHERE state = 'pending'`,
      `CREATE INDEX IF NOT EXISTS strata_jobs_leased ON strata_jobs (queue, lease_expires_at) WHERE state = 'running'`,
      `CREATE INDEX IF NOT EXISTS strata_jobs_changed ON strata_jobs (state, updated_at)`,
      `CREATE INDEX IF NOT EXISTS strata_jobs_listed ON strata_jobs (queue, created_at, id)`,
      `CREATE TABLE IF NOT EXISTS strata_job_queues (name text PRIMARY KEY, declared_at bigint NOT NULL)`
    ]
  },
  {
    // `(state, updated_at)` changed on every take and completion (a third of a take's cost on
    // SQLite); purges select finished jobs only, so index those alone: a take no longer touches it.
    id: 2,
    name: "index_finished_jobs",
    statements: [
      `DROP INDEX IF EXISTS strata_jobs_changed`,
      `CREATE INDEX IF NOT EXISTS strata_jobs_finished ON strata_jobs (updated_at) WHERE ${finishedPredicate}`
    ]
  },
  {
    // `stats` (every worker samples it) counted a queue's jobs by reading every row it ever had,
    // finished ones included. With the due and leased indexes, dead jobs were the one state no index
    // counts by queue; they are few, and a take or completion never touches this index.
    id: 3,
    name: "index_dead_jobs",
    statements: [`CREATE INDEX IF NOT EXISTS strata_jobs_dead ON strata_jobs (queue) WHERE state = 'dead'`]
  }
]

/**
 * The job migrations' own ledger: never `strata_migrations`, so their ids cannot collide with the
 * event store's.
 *
 * @category migrations
 * @since 0.1.0
 */
export const ledger =
  "CREATE TABLE IF NOT EXISTS strata_job_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)"

/**
 * One job migration as a plain SQL file (what `migrations/<dialect>-jobs/NNNN_name.sql` holds).
 *
 * @category migrations
 * @since 0.1.0
 */
export const render = (migration: Migration): string =>
  `-- Strata job queue migration ${migration.id}: ${migration.name}\n` +
  `-- Generated from SqlJobs.migrations by scripts/write-job-migrations.ts; a test keeps the two equal.\n` +
  `-- Records itself in strata_job_migrations (not strata_migrations: the queue may live in another database).\n\n` +
  [
    ledger,
    ...migration.statements,
    `INSERT INTO strata_job_migrations (id, name, applied_at) VALUES (${migration.id}, '${migration.name}', CURRENT_TIMESTAMP) ON CONFLICT DO NOTHING`
  ].map((statement) => `${statement};\n`).join("\n")

/**
 * Applies the pending job migrations. PostgreSQL: each in a transaction under an advisory lock of
 * its own (per schema: the connection's `current_schema()`); SQLite: each in a write transaction; D1 (no transactions): statement by statement, which
 * is safe because every statement is idempotent. Returns the ids applied.
 *
 * @category migrations
 * @since 0.1.0
 */
export const migrate = (dialect: Dialect): Effect.Effect<ReadonlyArray<number>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const applied: Array<number> = []
    for (const migration of migrations) {
      const apply = Effect.gen(function*() {
        // The lock is the schema's (a store in a PostgreSQL schema of its own migrates beside others);
        // in `public`, the key every earlier version took.
        if (dialect.name === "postgres") {
          yield* sql`SELECT pg_advisory_xact_lock(hashtext(CASE WHEN coalesce(current_schema(), 'public') = 'public'
            THEN 'strata_job_migrations' ELSE 'strata_job_migrations:' || current_schema() END))`
        }
        yield* sql.unsafe(ledger)
        const rows = yield* sql<{ id: unknown }>`SELECT id FROM strata_job_migrations WHERE id = ${migration.id}`
        if (rows.length > 0) return false
        for (const statement of migration.statements) yield* sql.unsafe(statement)
        yield* sql`INSERT INTO strata_job_migrations (id, name, applied_at) VALUES (${migration.id}, ${migration.name}, ${
          new Date().toISOString()
        }) ON CONFLICT DO NOTHING`
        return true
      })
      const done = dialect.write._tag === "Batched" ? yield* apply : yield* sql.withTransaction(apply)
      if (done) applied.push(migration.id)
    }
    return applied
  }).pipe(
    Effect.withSpan("strata.migrate", { attributes: { "strata.dialect": dialect.name, "strata.schema": "jobs" } })
  )

type Enqueued = { readonly id: string; readonly created: boolean }

interface Row {
  readonly id: string
  readonly queue: string
  readonly job_key: string | null
  readonly payload: string
  readonly priority: unknown
  readonly state: string
  readonly run_at: unknown
  readonly attempts: unknown
  readonly last_error: string | null
  readonly owner: string | null
  readonly lease_expires_at: unknown
  readonly created_at: unknown
  readonly updated_at: unknown
  readonly trace_id: string | null
  readonly span_id: string | null
}

type TakenColumn =
  | "id"
  | "queue"
  | "job_key"
  | "payload"
  | "priority"
  | "attempts"
  | "run_at"
  | "created_at"
  | "trace_id"
  | "span_id"

const num = (value: unknown): number => Number(value)
const opt = <A>(value: A | null | undefined): A | undefined => value === null ? undefined : value

const toRecord = (row: Row): JobStore.JobRecord => ({
  id: row.id,
  queue: row.queue,
  key: opt(row.job_key),
  payload: row.payload,
  priority: num(row.priority),
  state: row.state as JobStore.JobState,
  runAt: num(row.run_at),
  attempts: num(row.attempts),
  lastError: opt(row.last_error),
  owner: opt(row.owner),
  leaseExpiresAt: row.lease_expires_at === null ? undefined : num(row.lease_expires_at),
  createdAt: num(row.created_at),
  updatedAt: num(row.updated_at),
  traceId: opt(row.trace_id),
  spanId: opt(row.span_id)
})

const toTaken = (row: Pick<Row, TakenColumn>): JobStore.TakenJob => ({
  id: row.id,
  queue: row.queue,
  key: opt(row.job_key),
  payload: row.payload,
  priority: num(row.priority),
  attempt: num(row.attempts),
  runAt: num(row.run_at),
  createdAt: num(row.created_at),
  traceId: opt(row.trace_id),
  spanId: opt(row.span_id)
})

// The same from a row read as an array, in the take's RETURNING order.
const takenOf = (row: ReadonlyArray<unknown>): JobStore.TakenJob => ({
  id: row[0] as string,
  queue: row[1] as string,
  key: opt(row[2] as string | null),
  payload: row[3] as string,
  priority: num(row[4]),
  attempt: num(row[5]),
  runAt: num(row[6]),
  createdAt: num(row[7]),
  traceId: opt(row[8] as string | null),
  spanId: opt(row[9] as string | null)
})

// RETURNING answers rows in the order the UPDATE visited them, not the subquery's: put due jobs back
// in take order (the `ORDER BY` of the due subquery), which is the order a worker starts them in.
const byDue = (a: JobStore.TakenJob, b: JobStore.TakenJob): number =>
  b.priority - a.priority || a.runAt - b.runAt || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * @category models
 * @since 0.1.0
 */
export interface SqlJobsOptions {
  /** The database's dialect (`PgDialect.dialect`, `SqliteDialect.dialect`, `D1Dialect.make(client)`). */
  readonly dialect: Dialect
  /** Name in spans, metrics and errors. Defaults to the dialect's name. */
  readonly backend?: string | undefined
}

/**
 * Builds the job store over the SqlClient in context (the tables must exist: {@link migrate}).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: SqlJobsOptions): Effect.Effect<JobStore.JobStore, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { dialect } = options
    const backend = options.backend ?? dialect.name
    const run = <A>(operation: string, effect: Effect.Effect<A, SqlError>) =>
      effect.pipe(
        Effect.catchTag("SqlError", (error) =>
          dialect.isTransient(error)
            ? Effect.fail(new StoreError.StoreUnavailable({ operation, reason: error.reason._tag, cause: error }))
            : Effect.die(error))
      )
    const fenced = (take: JobStore.Take) =>
      sql`id = ${take.id} AND owner = ${take.owner} AND attempts = ${take.attempt} AND state = 'running'`
    const where = (selection: JobStore.Selection) =>
      sql.and([
        ...(selection.queue === undefined ? [] : [sql`queue = ${selection.queue}`]),
        ...(selection.states === undefined ? [] : [sql.in("state", selection.states)]),
        // Finished jobs only (purges): the predicate of their index, so the database uses it.
        ...(selection.states !== undefined && selection.states.length > 0 &&
            selection.states.every(JobStore.isFinished)
          ? [sql.literal(finishedPredicate)]
          : []),
        ...(selection.before === undefined ? [] : [sql`updated_at < ${selection.before}`])
      ])
    const columns = sql.literal(
      "id, queue, job_key, payload, priority, state, run_at, attempts, last_error, owner, lease_expires_at, created_at, updated_at, trace_id, span_id"
    )

    // The hot statements (enqueue, take, complete) as text built once, with their parameters in
    // order: no fragments to build and compile per job. `?` placeholders, `$n` on PostgreSQL.
    const placeholders = (text: string) => {
      if (dialect.name !== "postgres") return text
      let n = 0
      return text.replace(/\?/g, () => `$${++n}`)
    }
    // node:sqlite (not D1, not PostgreSQL): an INSERT without RETURNING reports its changes, and rows
    // read as arrays skip an object per row and the client's copy of it. A RETURNING clause costs
    // SQLite a buffer of its own even for one id (an enqueue's INSERT: 38-41 -> 34-36 us), and the
    // take's 8 rows as arrays cost 14 us of client CPU against 30 as objects.
    const local = dialect.name === "sqlite" && dialect.write._tag !== "Batched"
    const insertText = placeholders(`INSERT INTO strata_jobs
(id, queue, job_key, payload, priority, state, run_at, attempts, created_at, updated_at, trace_id, span_id)
VALUES (?, ?, ?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?)
ON CONFLICT DO NOTHING${local ? "" : " RETURNING id"}`)
    const insert = (params: ReadonlyArray<unknown>): Effect.Effect<boolean, SqlError> =>
      local
        ? Effect.map(
          sql.unsafe(insertText, params).raw,
          (result) => Number((result as { changes: unknown }).changes) > 0
        )
        : Effect.map(sql.unsafe<{ id: string }>(insertText, params), (rows) => rows.length > 0)
    const claimText = (candidates: string) =>
      placeholders(`UPDATE strata_jobs SET state = 'running', owner = ?, lease_expires_at = ?,
  attempts = attempts + 1, updated_at = ?
WHERE id IN (${candidates} LIMIT ? ${dialect.name === "postgres" ? "FOR UPDATE SKIP LOCKED" : ""})
RETURNING id, queue, job_key, payload, priority, attempts, run_at, created_at, trace_id, span_id`) // what `toTaken` and `takenOf` read
    // Jobs whose worker died first (the leased index), then due ones (the due index, in take order).
    const reclaimText = claimText(`SELECT id FROM strata_jobs WHERE queue = ? AND state = 'running'
  AND lease_expires_at <= ? ORDER BY lease_expires_at`)
    const dueText = claimText(`SELECT id FROM strata_jobs WHERE queue = ? AND state = 'pending' AND run_at <= ?
  ORDER BY priority DESC, run_at, created_at, id`)
    // One text per number of takes completed at once (1 to 33).
    const completeTexts: Array<string> = []
    const completeText = (count: number) =>
      completeTexts[count] ??= placeholders(
        `UPDATE strata_jobs SET state = 'succeeded', owner = NULL, lease_expires_at = NULL,
  updated_at = ?
WHERE state = 'running' AND (${
          Array.from({ length: count }, () => "(id = ? AND owner = ? AND attempts = ?)").join(" OR ")
        })
RETURNING id`
      )

    // The insert wrote nothing: the id is stored already (a replayed append that carried this job),
    // or a pending or running job holds the key. A key held by a job that finishes between the
    // insert and the select: insert again (at most 5 times in all).
    const conflicted = (
      input: JobStore.EnqueueInput,
      params: ReadonlyArray<unknown>,
      attempt: number
    ): Effect.Effect<Enqueued, SqlError> =>
      Effect.gen(function*() {
        const same = yield* sql<{ id: string }>`SELECT id FROM strata_jobs WHERE id = ${input.id}`
        if (same.length > 0) return { id: input.id, created: false }
        const holder = yield* sql<{ id: string }>`SELECT id FROM strata_jobs
WHERE queue = ${input.queue} AND job_key = ${input.key ?? null} AND state IN ('pending', 'running')`
        if (holder.length > 0) return { id: holder[0].id, created: false }
        if (attempt >= 5) return yield* Effect.die(new Error(`enqueue: job id ${input.id} conflicts with a stored job`))
        return (yield* insert(params))
          ? { id: input.id, created: true }
          : yield* conflicted(input, params, attempt + 1)
      })

    // node:sqlite answers at once, so the enqueues of concurrent fibers would each be a statement and
    // a commit of their own (the row and three index pages). Outside a transaction they are grouped
    // instead: the first enqueue of a turn of the scheduler leads, yields once, and writes every
    // enqueue that arrived meanwhile with one multi-row INSERT (ids returned: those not written take
    // the conflict path above, the leader running it). A lone enqueue is the one-row INSERT it was.
    // A waiting enqueue interrupted before its batch is written leaves it; an interrupted leader hands
    // the lead to the next one waiting. Inside a transaction the job must join it: never grouped.
    interface Waiting {
      readonly input: JobStore.EnqueueInput
      readonly params: ReadonlyArray<unknown>
      readonly deferred: Deferred.Deferred<Enqueued | "lead", SqlError>
      // Handed the lead (its deferred says "lead").
      led: boolean
    }
    let waiting: Array<Waiting> = []
    // At most 32 rows (320 parameters) per statement.
    const maxGroup = 32
    const insertManyTexts: Array<string> = []
    const insertManyText = (count: number) =>
      insertManyTexts[count] ??= `INSERT INTO strata_jobs
(id, queue, job_key, payload, priority, state, run_at, attempts, created_at, updated_at, trace_id, span_id)
VALUES ${Array.from({ length: count }, () => "(?, ?, ?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?)").join(", ")}
ON CONFLICT DO NOTHING RETURNING id`
    const leave = (entry: Waiting) =>
      Effect.sync(() => {
        const index = waiting.indexOf(entry)
        if (index >= 0) waiting.splice(index, 1)
      })
    const handOver = () => {
      const next = waiting[0]
      if (next !== undefined && !next.led) {
        next.led = true
        Deferred.doneUnsafe(next.deferred, Exit.succeed("lead" as const))
      }
    }
    const writeGroup = (own: Waiting, group: ReadonlyArray<Waiting>): Effect.Effect<Enqueued, SqlError> => {
      if (group.length === 1) {
        return Effect.flatMap(
          insert(own.params),
          (inserted): Effect.Effect<Enqueued, SqlError> =>
            inserted ? Effect.succeed({ id: own.input.id, created: true }) : conflicted(own.input, own.params, 1)
        )
      }
      const params: Array<unknown> = []
      for (const entry of group) params.push(...entry.params)
      return Effect.exit(sql.unsafe(insertManyText(group.length), params).values).pipe(
        Effect.flatMap((exit) =>
          Effect.gen(function*() {
            if (Exit.isFailure(exit)) {
              const failure = exit as Exit.Exit<never, SqlError>
              for (const entry of group) if (entry !== own) Deferred.doneUnsafe(entry.deferred, failure)
              return yield* failure
            }
            const written = new Set<unknown>()
            for (const row of exit.value) written.add(row[0])
            let result: Exit.Exit<Enqueued, SqlError> | undefined
            for (const entry of group) {
              const outcome: Exit.Exit<Enqueued, SqlError> = written.has(entry.input.id)
                ? Exit.succeed({ id: entry.input.id, created: true })
                : yield* Effect.exit(conflicted(entry.input, entry.params, 1))
              if (entry === own) result = outcome
              else Deferred.doneUnsafe(entry.deferred, outcome)
            }
            return yield* result!
          })
        )
      )
    }
    // Interruptible only while waiting: once a group is taken from `waiting` it is written and every
    // enqueue in it answered, or some would wait for ever.
    const lead = (own: Waiting): Effect.Effect<Enqueued, SqlError> =>
      Effect.uninterruptibleMask((restore) =>
        restore(Effect.yieldNow).pipe(
          Effect.onInterrupt(() => Effect.andThen(leave(own), Effect.sync(handOver))),
          Effect.andThen(Effect.suspend(() => {
            const group = waiting.slice(0, maxGroup)
            waiting = waiting.slice(group.length)
            handOver()
            return writeGroup(own, group)
          }))
        )
      )
    const grouped = (input: JobStore.EnqueueInput, params: ReadonlyArray<unknown>) =>
      Effect.suspend((): Effect.Effect<Enqueued, SqlError> => {
        const own: Waiting = { input, params, deferred: Deferred.makeUnsafe(), led: false }
        waiting.push(own)
        if (waiting.length === 1) {
          own.led = true
          return lead(own)
        }
        return Effect.uninterruptibleMask((restore) =>
          restore(Deferred.await(own.deferred)).pipe(
            // Gone before its group was taken: it leaves (and passes on the lead if it had it).
            Effect.onInterrupt(() => Effect.andThen(leave(own), Effect.sync(() => own.led && handOver()))),
            Effect.flatMap((result) => result === "lead" ? lead(own) : Effect.succeed(result))
          )
        )
      })

    const store: JobStore.JobStore = {
      backend,
      enqueue: (input) => {
        const params = [
          input.id,
          input.queue,
          input.key ?? null,
          input.payload,
          input.priority,
          input.runAt,
          input.now,
          input.now,
          input.traceId ?? null,
          input.spanId ?? null
        ]
        // The common case is one statement and one step: the row was inserted.
        const direct = Effect.flatMap(
          insert(params),
          (inserted): Effect.Effect<Enqueued, SqlError> =>
            inserted ? Effect.succeed({ id: input.id, created: true }) : conflicted(input, params, 1)
        )
        return run(
          "JobQueue.enqueue",
          local
            ? Effect.withFiber((fiber) =>
              Option.isSome(Context.getOption(fiber.context, sql.transactionService)) ? direct : grouped(input, params)
            )
            : direct
        )
      },
      take: (input) =>
        run(
          "JobQueue.take",
          Effect.gen(function*() {
            const claim = (text: string, limit: number): Effect.Effect<Array<JobStore.TakenJob>, SqlError> => {
              const params = [input.owner, input.leaseExpiresAt, input.now, input.queue, input.now, limit]
              return local
                ? Effect.map(sql.unsafe(text, params).values, (rows) => rows.map(takenOf))
                : Effect.map(sql.unsafe<Pick<Row, TakenColumn>>(text, params), (rows) => rows.map(toTaken))
            }
            // Two statements, each answered by a partial index.
            const reclaimed = input.reclaim === true ? yield* claim(reclaimText, input.limit) : []
            const limit = input.limit - reclaimed.length
            const due = limit <= 0 ? [] : (yield* claim(dueText, limit)).sort(byDue)
            return reclaimed.length === 0 ? due : [...reclaimed, ...due]
          })
        ),
      renew: (take, leaseExpiresAt) =>
        run(
          "JobQueue.renew",
          Effect.map(
            sql`UPDATE strata_jobs SET lease_expires_at = ${leaseExpiresAt} WHERE ${fenced(take)} RETURNING id`,
            (rows) => rows.length > 0
          )
        ),
      completeMany: (takes, now) =>
        run(
          "JobQueue.complete",
          Effect.gen(function*() {
            const done = new Set<string>()
            // 33 takes per statement: D1 binds at most 100 parameters (1 + 3 per take).
            for (let i = 0; i < takes.length; i += 33) {
              const chunk = takes.slice(i, i + 33)
              const params: Array<unknown> = [now]
              for (const take of chunk) params.push(take.id, take.owner, take.attempt)
              if (local) {
                // As a take's rows: arrays, no object per row.
                for (const row of yield* sql.unsafe(completeText(chunk.length), params).values) {
                  done.add(row[0] as string)
                }
              } else {
                for (const row of yield* sql.unsafe<{ id: string }>(completeText(chunk.length), params)) {
                  done.add(row.id)
                }
              }
            }
            return done
          })
        ),
      complete: (take, now) =>
        run(
          "JobQueue.complete",
          Effect.map(
            sql`UPDATE strata_jobs SET state = 'succeeded', owner = NULL, lease_expires_at = NULL, updated_at = ${now}
WHERE ${fenced(take)} RETURNING id`,
            (rows) => rows.length > 0
          )
        ),
      fail: (take, input) =>
        run(
          "JobQueue.fail",
          Effect.map(
            input.retryAt === undefined
              ? sql`UPDATE strata_jobs SET state = 'dead', last_error = ${input.error}, owner = NULL, lease_expires_at = NULL,
  updated_at = ${input.now} WHERE ${fenced(take)} RETURNING id`
              : sql`UPDATE strata_jobs SET state = 'pending', run_at = ${input.retryAt}, last_error = ${input.error}, owner = NULL,
  lease_expires_at = NULL, updated_at = ${input.now} WHERE ${fenced(take)} RETURNING id`,
            (rows) => rows.length > 0
          )
        ),
      release: (take, now, options) =>
        run(
          "JobQueue.release",
          Effect.map(
            options?.unstarted === true
              ? sql`UPDATE strata_jobs SET state = 'pending', attempts = attempts - 1, owner = NULL, lease_expires_at = NULL,
  updated_at = ${now} WHERE ${fenced(take)} RETURNING id`
              : sql`UPDATE strata_jobs SET state = 'pending', run_at = ${now}, owner = NULL, lease_expires_at = NULL, updated_at = ${now}
WHERE ${fenced(take)} RETURNING id`,
            (rows) => rows.length > 0
          )
        ),
      get: (id) =>
        run(
          "JobQueue.get",
          Effect.map(
            sql<Row>`SELECT ${columns} FROM strata_jobs WHERE id = ${id}`,
            (rows) => rows.length === 0 ? Option.none() : Option.some(toRecord(rows[0]))
          )
        ),
      list: (selection) =>
        run(
          "JobQueue.list",
          Effect.map(
            selection.limit === undefined
              ? sql<Row>`SELECT ${columns} FROM strata_jobs WHERE ${where(selection)} ORDER BY created_at, id`
              : sql<Row>`SELECT ${columns} FROM strata_jobs WHERE ${
                where(selection)
              } ORDER BY created_at, id LIMIT ${selection.limit}`,
            (rows) => rows.map(toRecord)
          )
        ),
      retry: (id, now) =>
        run(
          "JobQueue.retry",
          sql`UPDATE strata_jobs SET state = 'pending', run_at = ${now}, attempts = 0, owner = NULL, lease_expires_at = NULL,
  updated_at = ${now} WHERE id = ${id} AND state IN ('dead', 'cancelled') RETURNING id`.pipe(
            Effect.map((rows) => rows.length > 0),
            // Another pending job of the queue holds the key (the partial unique index).
            Effect.catchIf((error) => dialect.isUniqueViolation(error), () => Effect.succeed(false))
          )
        ),
      cancel: (id, now) =>
        run(
          "JobQueue.cancel",
          Effect.map(
            sql`UPDATE strata_jobs SET state = 'cancelled', updated_at = ${now} WHERE id = ${id} AND state = 'pending' RETURNING id`,
            (rows) => rows.length > 0
          )
        ),
      purge: (selection) =>
        run(
          "JobQueue.purge",
          Effect.map(
            selection.limit === undefined
              ? sql`DELETE FROM strata_jobs WHERE ${where(selection)} RETURNING id`
              : sql`DELETE FROM strata_jobs WHERE id IN (
  SELECT id FROM strata_jobs WHERE ${where(selection)} ORDER BY created_at, id LIMIT ${selection.limit}) RETURNING id`,
            (rows) => rows.length
          )
        ),
      stats: (queue, now) =>
        run(
          "JobQueue.stats",
          Effect.map(
            // Each state counted from its partial index (due, leased, dead): the queue's pending,
            // running and dead jobs are read, never its finished history.
            sql<{ pending: unknown; due: unknown; running: unknown; dead: unknown; oldest: unknown }>`SELECT
  pending, due, oldest,
  (SELECT COUNT(*) FROM strata_jobs WHERE queue = ${queue} AND state = 'running') AS running,
  (SELECT COUNT(*) FROM strata_jobs WHERE queue = ${queue} AND state = 'dead') AS dead
FROM (SELECT COUNT(*) AS pending, COALESCE(SUM(CASE WHEN run_at <= ${now} THEN 1 ELSE 0 END), 0) AS due,
  MIN(CASE WHEN run_at <= ${now} THEN run_at END) AS oldest
  FROM strata_jobs WHERE queue = ${queue} AND state = 'pending') AS waiting`,
            ([row]) => ({
              pending: num(row.pending),
              due: num(row.due),
              running: num(row.running),
              dead: num(row.dead),
              oldestDueAt: row.oldest === null || row.oldest === undefined ? undefined : num(row.oldest)
            })
          )
        ),
      declare: (queue, now) =>
        run(
          "JobQueue.declare",
          Effect.asVoid(
            sql`INSERT INTO strata_job_queues (name, declared_at) VALUES (${queue}, ${now}) ON CONFLICT DO NOTHING`
          )
        ),
      queues: run(
        "JobQueue.queues",
        Effect.map(
          sql<
            { name: string }
          >`SELECT name FROM strata_job_queues UNION SELECT DISTINCT queue AS name FROM strata_jobs ORDER BY 1`,
          (rows) => rows.map((row) => row.name)
        )
      ),
      // Inside a transaction of this very client, an enqueue joins it (effect/sql keys the open
      // transaction by client).
      inTransaction: Effect.map(Effect.serviceOption(sql.transactionService), Option.isSome),
      // D1's append batches write carried jobs when the store's client is this one.
      batchTarget: sql,
      // node:sqlite: a take of 32 costs SQLite about 40% of 4 takes of 8 per job (most of a take is
      // its commit), so workers take ahead (JobQueue.WorkerOptions.prefetch). Not PostgreSQL, where
      // workers of many processes share a queue, nor D1.
      prefetch: local ? 3 : 0
    }
    return store
  })

/**
 * @category models
 * @since 0.1.0
 */
export interface SqlJobsLayerOptions extends SqlJobsOptions {
  /** Apply the pending job migrations when the layer starts. Default true. */
  readonly migrate?: boolean | undefined
}

/**
 * Job queues (`JobQueue`) over the SqlClient in context, after applying the job migrations (unless
 * `migrate: false`). Give it the event store's SqlClient for the outbox (jobs enqueued in a unit
 * of work commit with it).
 *
 * @example
 * ```ts
 * import { SqliteDialect, SqlJobs } from "@strata/sql"
 *
 * // over the SqlClient of the store's layer (SqliteStore.layer hands it out)
 * const JobsLive = SqlJobs.layer({ dialect: SqliteDialect.dialect })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: SqlJobsLayerOptions
): Layer.Layer<JobQueue.JobQueue, SqlError, SqlClient.SqlClient> =>
  JobQueue.layer(
    Effect.gen(function*() {
      if (options.migrate ?? true) yield* migrate(options.dialect)
      return yield* make(options)
    })
  )

/**
 * The rendered statements of every job migration, by file name (`migrations/<dialect>-jobs/`).
 *
 * @category migrations
 * @since 0.1.0
 */
export const files = (): ReadonlyArray<readonly [name: string, text: string]> =>
  migrations.map((migration) => [Migrator.fileName(migration), render(migration)] as const)
