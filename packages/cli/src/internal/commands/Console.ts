/**
 * `strata console`: the web console of `@strata/console` on the store, until Ctrl-C.
 *
 * @since 0.1.0
 */
import { Console } from "@strata/console"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Connect from "../Connect.ts"
import * as Print from "../Print.ts"
import * as Signals from "../Signals.ts"

/**
 * Serves the console on a loopback address (a random port by default) and prints its URL with the
 * per-run token; anything but loopback needs `--allow-remote`.
 *
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make("console", {
  ...Connect.flags,
  host: Flag.String("host").pipe(
    Flag.withDescription("the address to bind; anything but loopback needs --allow-remote"),
    Flag.withDefault("127.0.0.1")
  ),
  port: Flag.Int("port").pipe(Flag.withDescription("the port (default: a random free one)"), Flag.withDefault(0)),
  allowRemote: Flag.Boolean("allow-remote").pipe(
    Flag.withDescription("bind a non-loopback address (the token then crosses the network in plain HTTP)"),
    Flag.withDefault(false)
  )
}, (options) =>
  Effect.scoped(Effect.gen(function*() {
    const stopped = yield* Signals.stopOnSignal
    const server = yield* Console.open(yield* Connect.resolve(options), {
      host: options.host,
      port: options.port,
      allowRemote: options.allowRemote
    })
    yield* Print.note(`Strata console on ${server.origin} (Ctrl-C to stop). Open:`)
    yield* Print.line(server.url)
    yield* stopped
  }))).pipe(
    Command.withDescription("Serve the web console (streams, tail, consumers, parked events, jobs) until Ctrl-C")
  )
