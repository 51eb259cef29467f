// A postgres:// URL with several hosts (or target_session_attrs) opens a PgCluster store; what a
// cluster cannot take (replica reads) is refused typed. No cluster is needed: nothing answers on the
// hosts, so the layer fails at startup, naming the cluster (the failover itself: test/cluster).
import { assert, describe, it } from "@effect/vitest"
import { PgUrl } from "@strata/postgres"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as net from "node:net"

// A port nothing listens on (bound, then closed).
const freePort = () =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        server.close(() => resolve(port))
      })
    })
  )

const build = (url: string) => Layer.build(PgUrl.layer(Redacted.make(url))).pipe(Effect.scoped, Effect.flip)

describe("PgUrl: cluster URLs", () => {
  it.effect(
    "several hosts open a cluster store: with no primary answering, StartupFailed names the cluster",
    () =>
      Effect.gen(function*() {
        const [a, b] = [yield* freePort(), yield* freePort()]
        const error = yield* build(`postgres://app@127.0.0.1:${a},127.0.0.1:${b}/app`)
        assert.strictEqual(error._tag, "StartupFailed")
        assert.include(String((error as { readonly target?: string }).target), "cluster")
        assert.notInclude(error.message, "secret")
      }),
    { timeout: 60_000 }
  )

  it.effect("target_session_attrs alone makes a one-host URL a cluster store", () =>
    Effect.gen(function*() {
      const port = yield* freePort()
      const error = yield* build(`postgres://app:secret@127.0.0.1:${port}/app?target_session_attrs=read-write`)
      assert.strictEqual(error._tag, "StartupFailed")
      assert.include(String((error as { readonly target?: string }).target), "cluster")
      assert.notInclude(error.message, "secret")
    }), { timeout: 60_000 })

  it.effect("replica reads and a bad schema on a cluster URL are refused typed, naming the rule", () =>
    Effect.gen(function*() {
      for (
        const [url, says] of [
          ["postgres://app@h1:5432,h2:5432/app?replica=h3", "takes no replica"],
          ["postgres://app@h1:5432,h2:5432/app?consistency=replica", "takes no replica"],
          ["postgres://app@h1:5432,h2:5432/app?schema=bad%20name", "schema parameter is refused"],
          ["postgres://app@h1:5432,h2:5432/app?target_session_attrs=read-only", "not supported"]
        ] as const
      ) {
        const error = yield* build(url)
        assert.include(error.message, says, url)
      }
    }))
})
