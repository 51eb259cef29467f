/**
 * Ctrl-C (SIGINT) and SIGTERM. The bin listens from its first line, before the command runs, so a
 * signal never meets Node's default (killing the process with its connections open): the running
 * command is interrupted (exit status 130), unless it has said it stops on a signal by itself
 * (`tail`, which then ends normally, exit status 0).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"

// The stop of the command that ends on a signal by itself, while it is listening.
let stop: (() => void) | undefined

/**
 * Listens to SIGINT and SIGTERM for the rest of the process: each signal goes to the command's
 * {@link stopOnSignal} when it is listening (once), to `interrupt` otherwise (and on a second signal).
 *
 * @category listening
 * @since 0.1.0
 */
export const install = (interrupt: () => void): void => {
  const handler = () => {
    const current = stop
    stop = undefined
    if (current === undefined) interrupt()
    else current()
  }
  process.on("SIGINT", handler)
  process.on("SIGTERM", handler)
}

/**
 * From now until the scope closes, the next signal stops the command normally instead of
 * interrupting it: returns the effect that completes on that signal. Acquire it before telling the
 * user to press Ctrl-C, so that no signal falls in between.
 *
 * @category listening
 * @since 0.1.0
 */
export const stopOnSignal: Effect.Effect<Effect.Effect<void>, never, Scope.Scope> = Effect.gen(function*() {
  const signalled = yield* Deferred.make<void>()
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      stop = () => void Deferred.doneUnsafe(signalled, Exit.void)
    }),
    () => Effect.sync(() => void (stop = undefined))
  )
  return Deferred.await(signalled)
})
