/**
 * PgCluster's configuration, checked before any connection: multi-host URLs, target_session_attrs,
 * and the refusals that fail the layer with StartupFailed (never a defect).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as PgCluster from "../../src/PgCluster.ts"

describe("PgCluster configuration", () => {
  it("splits a multi-host URL into its members and a single-host URL with the rest", () => {
    assert.deepStrictEqual(
      PgCluster.parseUrl(
        "postgres://app:s%40cret@db1:5433,db2,[::1]:6000/app?target_session_attrs=read-write&sslmode=require"
      ),
      {
        _tag: "Success",
        hosts: [{ host: "db1", port: 5433 }, { host: "db2", port: 5432 }, { host: "::1", port: 6000 }],
        url: "postgres://app:s%40cret@db1:5433/app?sslmode=require"
      }
    )
    assert.deepStrictEqual(PgCluster.parseUrl("postgresql://db1:5432,db2:5432/x?target_session_attrs=primary"), {
      _tag: "Success",
      hosts: [{ host: "db1", port: 5432 }, { host: "db2", port: 5432 }],
      url: "postgresql://db1:5432/x"
    })
  })

  it("refuses what it cannot serve, without echoing the URL", () => {
    for (
      const url of [
        "postgres://app:secret@db1,db2/app?target_session_attrs=read-only",
        "postgres://app:secret@db1,,db2/app",
        "postgres://app:secret@db1:99999/app",
        "mysql://db1/app"
      ]
    ) {
      const parsed = PgCluster.parseUrl(url)
      assert.strictEqual(parsed._tag, "Failure", url)
      assert.notInclude(JSON.stringify(parsed), "secret")
    }
  })

  it.effect("a layer without hosts, with a refused URL or schema fails with StartupFailed", () =>
    Effect.gen(function*() {
      for (
        const config of [
          {},
          { url: Redacted.make("postgres://app:secret@db1,db2/app?target_session_attrs=standby") },
          { hosts: ["db1:0"] },
          { hosts: ["127.0.0.1:1"], schema: "bad name;" }
        ]
      ) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(PgCluster.layer(config))))
        assert.strictEqual(error._tag, "StartupFailed", JSON.stringify(config))
        assert.notInclude(JSON.stringify(error), "secret")
      }
    }))

  it.effect("no host answering: StartupFailed naming the members", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(
          Layer.build(PgCluster.layer({ hosts: ["127.0.0.1:1", "127.0.0.1:2"], probeTimeout: "500 millis" }))
        )
      )
      assert.strictEqual(error._tag, "StartupFailed")
      assert.include(JSON.stringify(error), "127.0.0.1:1,127.0.0.1:2")
    }))
})
