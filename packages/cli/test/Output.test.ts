import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Output from "../src/internal/Output.ts"
import * as Progress from "../src/internal/Progress.ts"

describe("Output", () => {
  it("redactUrl hides the password and password= parameters, nothing else", () => {
    assert.strictEqual(Output.redactUrl("postgres://app:s3cr%40t@db:5432/app"), "postgres://app:***@db:5432/app")
    assert.strictEqual(
      Output.redactUrl("postgresql://db/app?user=app&password=pw&sslmode=require"),
      "postgresql://db/app?user=app&password=***&sslmode=require"
    )
    assert.strictEqual(Output.redactUrl("sqlite:./a:b@c.db"), "sqlite:./a:b@c.db")
    assert.strictEqual(Output.redactUrl("postgres://app@db/app"), "postgres://app@db/app")
  })

  it("scrub removes every secret of a URL, also percent-decoded", () => {
    const secrets = Output.secretsOf("postgres://app:s3cr%40t@db/app?password=other")
    assert.deepStrictEqual([...secrets].sort(), ["other", "s3cr%40t", "s3cr@t"])
    assert.strictEqual(Output.scrub("login s3cr@t failed (other, s3cr%40t)", secrets), "login *** failed (***, ***)")
  })
})

describe("Progress", () => {
  it("line: done, total, rate and ETA", () => {
    assert.strictEqual(Progress.line("copied", 500, 2000, 2), "copied 500 / 2,000 events (250/s, ETA 6.0 s)")
    assert.strictEqual(Progress.line("imported", 1234, undefined, 1), "imported 1,234 events (1,234/s)")
  })

  it.effect("without a terminal, plain lines at the interval and a last one at stop", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const progress = yield* Progress.make({ verb: "copied", tty: false, interval: 3600, write: (l) => lines.push(l) })
      yield* progress.update(10, 100) // the first update prints: nothing was printed for an interval
      yield* progress.update(20, 100)
      yield* progress.stop
      assert.strictEqual(lines.length, 2)
      assert.match(lines[0], /^copied 10 \/ 100 events \(/)
      assert.match(lines[1], /^copied 20 \/ 100 events \(/)
    }))
})
