/**
 * `strata jobs list|show|retry|cancel|purge`: the job queues kept in a SQL store's database
 * (`SqlJobs`: SQLite, PostgreSQL). The store is opened as for reading; the job tables are never
 * created here (a store without them has no jobs).
 *
 * @since 0.1.0
 */
import { JobQueue, JobStore, StoreUrl } from "@strata/core"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { Argument, Command, Flag } from "effect/cli"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as Connect from "../Connect.ts"
import * as Print from "../Print.ts"
import { UsageError } from "../Usage.ts"

const parent = Command.make("jobs").pipe(Command.withSharedFlags(Connect.flags))

// The store's JobQueue, over its own SqlClient; fails with a UsageError where there is none.
const openJobs = (url: Redacted.Redacted<string>, access: "read" | "write") =>
  Effect.gen(function*() {
    const scheme = StoreUrl.scheme(url)
    if (scheme !== "sqlite" && scheme !== "postgres" && scheme !== "postgresql") {
      return yield* new UsageError({
        message: `job queues live in a SQLite or PostgreSQL store's database; ${scheme}: holds none`
      })
    }
    const { context } = yield* Connect.open(url, access)
    const sql = Context.getOption(context as Context.Context<SqlClient.SqlClient>, SqlClient.SqlClient)
    if (Option.isNone(sql)) {
      return yield* new UsageError({ message: `this ${scheme} store does not hand out its SqlClient` })
    }
    const client = sql.value
    const dialect = scheme !== "sqlite"
      ? (yield* Effect.promise(() => import("@strata/postgres"))).PgDialect.dialect
      : SqliteDialect.dialect
    const tables = yield* client.onDialectOrElse({
      pg: () => client<{ found: unknown }>`SELECT to_regclass('strata_job_migrations') IS NOT NULL AS found`,
      orElse: () =>
        client<{ found: unknown }>`SELECT count(*) AS found FROM sqlite_master WHERE name = 'strata_job_migrations'`
    })
    const found = tables[0]?.found
    if (found !== true && Number(found) !== 1) {
      return yield* new UsageError({
        message: "this store has no job queue (its tables are made when a program first starts SqlJobs.layer)"
      })
    }
    const store = yield* Effect.provideService(SqlJobs.make({ dialect, backend: scheme }), SqlClient.SqlClient, client)
    return JobQueue.fromStore(store)
  })

const time = (millis: number | undefined) => millis === undefined ? "-" : new Date(millis).toISOString()
const firstLine = (text: string | undefined) => text === undefined ? "" : text.split("\n")[0].slice(0, 120)

const stateFlag = Flag.String("state").pipe(
  Flag.withDescription(`only jobs in these states (comma-separated: ${JobStore.states.join(", ")})`),
  Flag.optional
)
const queueFlag = Flag.String("queue").pipe(Flag.withDescription("only this queue"), Flag.optional)

const statesOf = (
  text: Option.Option<string>
): Effect.Effect<ReadonlyArray<JobStore.JobState> | undefined, UsageError> => {
  if (Option.isNone(text)) return Effect.succeed(undefined)
  const states = text.value.split(",").map((state) => state.trim()).filter((state) => state !== "")
  const unknown = states.filter((state) => !JobStore.states.includes(state as JobStore.JobState))
  return unknown.length === 0
    ? Effect.succeed(states as ReadonlyArray<JobStore.JobState>)
    : Effect.fail(
      new UsageError({ message: `unknown job state ${unknown.join(", ")}; states are ${JobStore.states.join(", ")}` })
    )
}

const limitOf = (text: Option.Option<string>, fallback: number | undefined) => {
  if (Option.isNone(text)) return Effect.succeed(fallback)
  return /^[1-9][0-9]*$/.test(text.value)
    ? Effect.succeed(Number(text.value))
    : Effect.fail(
      new UsageError({ message: `--limit must be a positive whole number, got ${JSON.stringify(text.value)}` })
    )
}

const list = Command.make("list", {
  queue: queueFlag,
  state: stateFlag,
  limit: Flag.String("limit").pipe(Flag.withDescription("at most this many (default 100)"), Flag.optional),
  json: Flag.Boolean("json").pipe(Flag.withDescription("one JSON object per line"), Flag.withDefault(false))
}, ({ json, limit, queue, state }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const states = yield* statesOf(state)
    const max = yield* limitOf(limit, 100)
    const jobs = yield* openJobs(url, "read")
    const found = yield* JobQueue.list({ queue: Option.getOrUndefined(queue), states, limit: max }).pipe(
      Effect.provideService(JobQueue.JobQueue, jobs)
    )
    if (json) {
      for (const job of found) yield* Print.line(JSON.stringify(job))
      return
    }
    if (found.length === 0) {
      const queues = yield* jobs.store.queues
      return yield* Print.line(
        queues.length === 0 ? "no jobs" : `no jobs selected (queues: ${queues.join(", ")})`
      )
    }
    const width = Math.max(5, ...found.map((job) => job.queue.length))
    yield* Print.line(
      `${"id".padEnd(36)}  ${"queue".padEnd(width)}  ${
        "state".padEnd(9)
      }  attempts  run at                    last error`
    )
    for (const job of found) {
      yield* Print.line(
        `${job.id.padEnd(36)}  ${job.queue.padEnd(width)}  ${job.state.padEnd(9)}  ${String(job.attempts).padEnd(8)}  ${
          time(job.runAt).padEnd(24)
        }  ${firstLine(job.lastError)}`
      )
    }
  }))).pipe(Command.withDescription("Jobs in the order they were enqueued (--queue, --state, --limit, --json)"))

const id = Argument.String("id").pipe(Argument.withDescription("the job id"))

const show = Command.make("show", { id }, ({ id }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const jobs = yield* openJobs(url, "read")
    const job = yield* JobQueue.get(id).pipe(Effect.provideService(JobQueue.JobQueue, jobs))
    yield* Print.line(`id          ${job.id}`)
    yield* Print.line(`queue       ${job.queue}`)
    yield* Print.line(`state       ${job.state}`)
    yield* Print.line(`key         ${job.key ?? "-"}`)
    yield* Print.line(`priority    ${job.priority}`)
    yield* Print.line(`attempts    ${job.attempts}`)
    yield* Print.line(`run at      ${time(job.runAt)}`)
    yield* Print.line(`enqueued    ${time(job.createdAt)}`)
    yield* Print.line(`changed     ${time(job.updatedAt)}`)
    if (job.state === "running") yield* Print.line(`held by     ${job.owner ?? "-"} until ${time(job.leaseExpiresAt)}`)
    if (job.traceId !== undefined) yield* Print.line(`enqueued in trace ${job.traceId} span ${job.spanId ?? "-"}`)
    yield* Print.line(`payload     ${job.payload}`)
    if (job.lastError !== undefined) yield* Print.line(`last error\n${job.lastError}`)
  }))).pipe(Command.withDescription("One job: its state, attempts, payload and last error"))

const retry = Command.make("retry", {
  id: Argument.String("id").pipe(Argument.withDescription("the job id (dead or cancelled)"), Argument.optional),
  dead: Flag.String("dead").pipe(Flag.withDescription("retry every dead letter of this queue"), Flag.optional)
}, ({ dead, id }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    if (Option.isSome(id) === Option.isSome(dead)) {
      return yield* new UsageError({ message: "give a job id, or --dead QUEUE to retry a queue's dead letters" })
    }
    const jobs = yield* openJobs(url, "write")
    if (Option.isSome(id)) {
      yield* JobQueue.retry(id.value).pipe(Effect.provideService(JobQueue.JobQueue, jobs))
      return yield* Print.line(`${id.value} is pending again, due now`)
    }
    const queue = Option.getOrThrow(dead)
    const count = yield* JobQueue.retryDead(queue).pipe(Effect.provideService(JobQueue.JobQueue, jobs))
    yield* Print.line(`${count} dead job${count === 1 ? "" : "s"} of ${queue} pending again`)
  }))).pipe(Command.withDescription("Make a dead (or cancelled) job pending again, or every dead letter of a queue"))

const cancel = Command.make("cancel", { id }, ({ id }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const jobs = yield* openJobs(url, "write")
    yield* JobQueue.cancel(id).pipe(Effect.provideService(JobQueue.JobQueue, jobs))
    yield* Print.line(`${id} cancelled: it will not run`)
  }))).pipe(Command.withDescription("Cancel a pending job"))

const purge = Command.make("purge", {
  queue: queueFlag,
  state: stateFlag,
  olderThan: Flag.String("older-than").pipe(
    Flag.withDescription("only jobs last changed more than this many hours ago"),
    Flag.optional
  )
}, ({ olderThan, queue, state }) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* Connect.resolve(yield* parent)
    const states = yield* statesOf(state)
    const unfinished = (states ?? []).filter((s) => !JobStore.isFinished(s))
    if (unfinished.length > 0) {
      return yield* new UsageError({
        message: `only finished jobs are purged (succeeded, dead, cancelled), not ${unfinished.join(", ")}`
      })
    }
    const hours = Option.isSome(olderThan) ? Number(olderThan.value) : undefined
    if (hours !== undefined && !(Number.isFinite(hours) && hours >= 0)) {
      return yield* new UsageError({
        message: `--older-than takes hours, got ${JSON.stringify(Option.getOrThrow(olderThan))}`
      })
    }
    const jobs = yield* openJobs(url, "write")
    const count = yield* JobQueue.purge({
      queue: Option.getOrUndefined(queue),
      states,
      before: hours === undefined ? undefined : Date.now() - hours * 3_600_000
    }).pipe(Effect.provideService(JobQueue.JobQueue, jobs))
    yield* Print.line(`purged ${count} job${count === 1 ? "" : "s"}`)
  }))).pipe(Command.withDescription("Delete finished jobs (default: succeeded, dead and cancelled)"))

/**
 * @category commands
 * @since 0.1.0
 */
export const command = parent.pipe(
  Command.withDescription("List, show, retry, cancel or purge jobs of the store's job queues"),
  Command.withSubcommands([list, show, retry, cancel, purge])
)
