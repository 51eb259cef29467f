// Ctrl-C (SIGINT) and SIGTERM. A run has its own router: the running command is interrupted (exit
// status 130), unless it has said it stops on a signal by itself (`tail`, which then ends normally,
// exit status 0). The executable connects the process's signals to its run's router from its first
// line, before the command runs, so a signal never meets Node's default (killing the process with
// its connections open); an in-process run is signalled by calling `signal`.
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"

export interface Router {
  /** A signal: to the command's stop when it is listening (once), to `interrupt` otherwise (and on a second signal). */
  readonly signal: () => void
  /** Makes the next signal call `stop`; returns what undoes that. */
  readonly listen: (stop: () => void) => () => void
}

/** A router that interrupts with `interrupt` when no command is listening. */
export const make = (interrupt: () => void): Router => {
  let current: (() => void) | undefined
  return {
    signal: () => {
      const stop = current
      current = undefined
      if (stop === undefined) interrupt()
      else stop()
    },
    listen: (stop) => {
      current = stop
      return () => {
        if (current === stop) current = undefined
      }
    }
  }
}

/** The current run's router (by default one that no signal reaches). */
export const Router = Context.Reference<Router>("@strata/cli/internal/Signals/Router", {
  defaultValue: () => make(() => {})
})

/** Sends the process's SIGINT and SIGTERM to `signal` for the rest of the process. */
export const install = (signal: () => void): void => {
  process.on("SIGINT", signal)
  process.on("SIGTERM", signal)
}

/**
 * From now until the scope closes, the next signal stops the command normally instead of
 * interrupting it: returns the effect that completes on that signal. Acquire it before telling the
 * user to press Ctrl-C, so that no signal falls in between.
 */
export const stopOnSignal: Effect.Effect<Effect.Effect<void>, never, Scope.Scope> = Effect.gen(function*() {
  const router = yield* Router
  const signalled = yield* Deferred.make<void>()
  yield* Effect.acquireRelease(
    Effect.sync(() => router.listen(() => void Deferred.doneUnsafe(signalled, Exit.void))),
    (unlisten) => Effect.sync(unlisten)
  )
  return Deferred.await(signalled)
})
