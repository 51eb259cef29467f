// `strata jobs list|show|retry|cancel|purge` on a SQLite store whose database holds job queues:
// the same URL conventions as every command, one-line errors for mistakes, nothing written by a
// command that reads.
import { JobQueue } from "@strata/core"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "vitest"
import { oneLineError, strata as run, tempDir } from "./utils.ts"

const Mail = JobQueue.make("mail", Schema.Struct({ to: Schema.String }))

describe("strata jobs", () => {
  const dir = tempDir()
  const file = path.join(dir, "jobs.db")
  const url = `sqlite:${file}`
  const ids: Record<string, string> = {}
  const jobs = SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
    Layer.provideMerge(SqliteStore.layer({ filename: file }))
  )
  const use = <A, E>(effect: Effect.Effect<A, E, JobQueue.JobQueue>) =>
    Effect.runPromise(Effect.provide(effect, jobs) as Effect.Effect<A, E>)

  beforeAll(async () => {
    await use(Effect.gen(function*() {
      ids.pending = yield* JobQueue.enqueue(Mail, { to: "ada" }, { delay: "1 hour", key: "welcome-ada" })
      ids.later = yield* JobQueue.enqueue(Mail, { to: "bob" }, { delay: "1 hour" })
      ids.dead = yield* JobQueue.enqueue(Mail, { to: "eve" })
      const { store } = yield* JobQueue.JobQueue
      // A worker ran it three times and gave up: dead with its last error.
      const [taken] = yield* store.take({
        queue: "mail",
        owner: "w",
        now: Date.now(),
        leaseExpiresAt: Date.now() + 1000,
        limit: 1
      })
      yield* store.fail({ id: taken.id, owner: "w", attempt: taken.attempt }, {
        now: Date.now(),
        error: "SMTP refused\n  at send (mail.ts:1)",
        retryAt: undefined
      })
    }))
  })

  it("list: every job, a queue, a state, --json", async () => {
    const all = await run(["jobs", "list", "--url", url])
    assert.strictEqual(all.code, 0, all.stderr)
    const lines = all.stdout.trim().split("\n")
    assert.strictEqual(lines.length, 4)
    assert.match(lines[0], /^id +queue +state +attempts +run at +last error$/)
    assert.match(all.stdout, new RegExp(`^${ids.dead} +mail +dead +1 .*SMTP refused$`, "m"))
    const dead = await run(["jobs", "list", "--state", "dead", "--json", "--url", url])
    const parsed = dead.stdout.trim().split("\n").map((line) => JSON.parse(line))
    assert.deepStrictEqual(parsed.map((job) => [job.id, job.state, job.attempts]), [[ids.dead, "dead", 1]])
    const none = await run(["jobs", "list", "--state", "cancelled", "--url", url])
    assert.strictEqual(none.stdout, "no jobs selected (queues: mail)\n")
    oneLineError(
      await run(["jobs", "list", "--queue", "mial", "--url", url]),
      /no queue named "mial"; the store has "mail"/
    )
    oneLineError(await run(["jobs", "list", "--state", "lost", "--url", url]), /unknown job state lost/)
  })

  it("show: a job's state, payload and whole last error", async () => {
    const shown = await run(["jobs", "show", ids.dead, "--url", url])
    assert.strictEqual(shown.code, 0, shown.stderr)
    assert.match(shown.stdout, /^state +dead$/m)
    assert.match(shown.stdout, /^payload +\{"to":"eve"\}$/m)
    assert.match(shown.stdout, /^last error\nSMTP refused\n {2}at send/m)
    assert.match((await run(["jobs", "show", ids.pending, "--url", url])).stdout, /^key +welcome-ada$/m)
    oneLineError(await run(["jobs", "show", "nope", "--url", url]), /no job nope/)
  })

  it("cancel a pending job; retry it and the dead one; purge finished jobs", async () => {
    assert.match((await run(["jobs", "cancel", ids.later, "--url", url])).stdout, /cancelled: it will not run/)
    oneLineError(
      await run(["jobs", "cancel", ids.later, "--url", url]),
      /is cancelled; only pending jobs can be cancelled/
    )
    oneLineError(await run(["jobs", "retry", ids.pending, "--url", url]), /only dead or cancelled jobs can be retried/)
    oneLineError(await run(["jobs", "retry", "--url", url]), /give a job id, or --dead QUEUE/)
    const retried = await run(["jobs", "retry", "--dead", "mail", "--url", url])
    assert.strictEqual(retried.stdout, "1 dead job of mail pending again\n")
    assert.match((await run(["jobs", "show", ids.dead, "--url", url])).stdout, /^state +pending$/m)
    assert.match((await run(["jobs", "retry", ids.later, "--url", url])).stdout, /pending again, due now/)
    assert.strictEqual((await run(["jobs", "purge", "--url", url])).stdout, "purged 0 jobs\n")
    await run(["jobs", "cancel", ids.later, "--url", url])
    oneLineError(await run(["jobs", "purge", "--state", "pending", "--url", url]), /only finished jobs are purged/)
    assert.strictEqual((await run(["jobs", "purge", "--older-than", "1", "--url", url])).stdout, "purged 0 jobs\n")
    assert.strictEqual((await run(["jobs", "purge", "--queue", "mail", "--url", url])).stdout, "purged 1 job\n")
    oneLineError(await run(["jobs", "show", ids.later, "--url", url]), /no job/)
  })

  it("a store without job tables, and stores that hold no jobs, fail with one line", async () => {
    const plain = `sqlite:${path.join(dir, "plain.db")}`
    assert.strictEqual((await run(["migrate", "--url", plain])).code, 0)
    oneLineError(await run(["jobs", "list", "--url", plain]), /this store has no job queue/)
    oneLineError(await run(["jobs", "list", "--url", "memory:"]), /memory: holds none/)
  })
})
