// A consumer group of OS processes on one KurrentDB (the emulator, or KURRENTDB_URL): members
// SIGKILLed mid-batch (after their handler wrote, before the checkpoint) and from outside, restarted,
// a member added while running. KurrentDB cannot commit a handler's writes with the checkpoint, so
// events are delivered at least once; the members' handler is idempotent (processes/groupWorker.ts),
// so every event's effect lands exactly once, each stream in order.
import { assert, it } from "@effect/vitest"
import { ConsumerGroup, Event, EventStore, Lease } from "@strata/core"
import { KurrentStore } from "@strata/kurrentdb"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { target } from "./utils.ts"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")
const node = Path.join(root, "node_modules", ".bin", "node")
const workerPath = Path.join(import.meta.dirname, "processes", "groupWorker.ts")

interface Member {
  readonly id: string
  readonly child: ChildProcess.ChildProcess
  readonly exited: Promise<number | string | null>
  readonly output: () => string
}

const spawnMember = (env: Record<string, string>): Member => {
  const child = ChildProcess.spawn(node, ["--conditions=@strata/source", workerPath], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout.on("data", keep)
  child.stderr.on("data", keep)
  const exited = new Promise<number | string | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code))
  )
  return { id: env.MEMBER, child, exited, output: () => output }
}

it.live(
  "consumer group across processes on KurrentDB: members SIGKILLed and restarted, every event's effect once, in stream order",
  () =>
    Effect.gen(function*() {
      const { connectionString } = yield* target
      const streams = 12
      const partitions = 6
      // A category whose streams cover every partition at least twice, so every member has work
      // (and m2 reaches its kill point) whichever partitions it holds.
      const covers = (candidate: string) => {
        const counts = new Array<number>(partitions).fill(0)
        for (let s = 0; s < streams; s++) counts[ConsumerGroup.partitionOf(`acct${candidate}-${s}`, partitions)]++
        return counts.every((n) => n >= 2)
      }
      let id = Math.random().toString(16).slice(2, 10)
      while (!covers(id)) id = Math.random().toString(16).slice(2, 10)
      const category = `acct${id}`
      const done = `done${id}`
      const group = `g${id}`
      const members: Array<Member> = []
      const start = (member: string, killAt = 0) => {
        const started = spawnMember({
          KURRENTDB_URL: connectionString,
          GROUP: group,
          MEMBER: member,
          PARTITIONS: String(partitions),
          TTL_MS: "3000",
          CATEGORY: category,
          DONE: done,
          KILL_AT: String(killAt)
        })
        members.push(started)
        return started
      }
      const outputs = () => members.map((m) => `--- ${m.id}\n${m.output()}`).join("\n").slice(-12_000)
      const killAll = Effect.promise(async () => {
        for (const member of members) {
          if (member.child.exitCode === null && member.child.signalCode === null) member.child.kill("SIGKILL")
        }
        await Promise.all(members.map((member) => member.exited))
      })

      yield* Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const leases = yield* Lease.LeaseStore
        const append = (rounds: number, from: number) =>
          Effect.forEach(
            Array.from({ length: rounds }, (_, r) => from + r),
            (round) =>
              Effect.forEach(
                Array.from({ length: streams }, (_, s) => s),
                (s) => store.append(`${category}-${s}`, [Event.make("Counted", { round })]),
                { discard: true, concurrency: 4 }
              ),
            { discard: true }
          )
        const ids = (stream: string) =>
          Stream.runCollect(store.read(stream)).pipe(
            Effect.map((events) => Array.from(events, (event) => event.id)),
            Effect.catch(() => Effect.succeed([] as Array<string>))
          )
        const handledCount = Effect.map(
          Effect.forEach(Array.from({ length: streams }, (_, s) => s), (s) => ids(`${done}-${category}-${s}`)),
          (all) => all.reduce((n, list) => n + list.length, 0)
        )
        const waitHandled = (total: number, ms: number) =>
          Effect.gen(function*() {
            const until = Date.now() + ms
            let n = yield* handledCount
            while (n < total && Date.now() < until) {
              yield* Effect.sleep("200 millis")
              n = yield* handledCount
            }
            return n
          })

        start("m1")
        const m2 = start("m2", 5)
        start("m3")
        // The events arrive once the three members share the partitions two each.
        const until = Date.now() + 30_000
        while (true) {
          const held = yield* leases.list(ConsumerGroup.partitionLease(group, 0).slice(0, -1))
          const counts = new Map<string, number>()
          for (const lease of held) counts.set(lease.holder, (counts.get(lease.holder) ?? 0) + 1)
          if (held.length === partitions && counts.size === 3 && [...counts.values()].every((n) => n === 2)) break
          if (Date.now() > until) {
            return yield* Effect.die(new Error(`the members never shared the partitions:\n${outputs()}`))
          }
          yield* Effect.sleep("300 millis")
        }
        yield* append(15, 0)
        const died = yield* Effect.promise(() => m2.exited).pipe(
          Effect.timeoutOption("40 seconds"),
          Effect.map((exit) => exit._tag === "Some" ? exit.value : "still running after 40 s")
        )
        assert.strictEqual(died, "SIGKILL", `m2 should have SIGKILLed itself mid-batch:\n${outputs()}`)
        start("m2-restarted")
        yield* waitHandled(90, 30_000)
        const m1 = members[0]
        m1.child.kill("SIGKILL")
        yield* Effect.promise(() => m1.exited)
        start("m1-restarted")
        start("m4")
        yield* append(5, 15)
        const total = streams * 20
        const reached = yield* waitHandled(total, 60_000)
        assert.strictEqual(reached, total, `every event handled:\n${outputs()}`)
        // m2 died after handling events whose checkpoint it never wrote: they were delivered again.
        const deliveries = (yield* ids(`${done}-deliveries`)).length
        assert.isAbove(deliveries, total, "at least once: some events were delivered twice")
        // Each output stream holds its source stream's events, by id, in order, once.
        for (let s = 0; s < streams; s++) {
          assert.deepStrictEqual(
            yield* ids(`${done}-${category}-${s}`),
            yield* ids(`${category}-${s}`),
            `stream ${s}: each event's effect once, in order`
          )
        }
      }).pipe(
        Effect.provide(Layer.fresh(KurrentStore.layer({ connectionString }))),
        Effect.ensuring(killAll)
      )
    }).pipe(Effect.scoped),
  { timeout: 180_000 }
)
