/**
 * Writing to stdout with backpressure: a large export waits for the pipe instead of buffering the
 * whole store in memory. When the reader goes away (`strata export | head -1`), the write fails
 * with {@link ReaderGone} and the command stops quietly with exit status 0, as Unix tools do.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Io from "./Io.ts"

/**
 * stdout's reader has closed the pipe: nothing more can be delivered, and nothing is wrong. The
 * run ends with exit status 0 and prints nothing more.
 *
 * @category errors
 * @since 0.1.0
 */
export class ReaderGone extends Data.TaggedError("ReaderGone")<{}> {}

/**
 * stdout failed otherwise (a full disk, a closed descriptor): one line, exit status 1.
 *
 * @category errors
 * @since 0.1.0
 */
export class StdoutFailed extends Data.TaggedError("StdoutFailed")<{ readonly message: string }> {}

const failure = (error: Error & { readonly code?: string | undefined }): ReaderGone | StdoutFailed =>
  Io.isReaderGone(error) ? new ReaderGone() : new StdoutFailed({ message: `cannot write to stdout: ${error.message}` })

/**
 * Writes text to stdout, resuming once the stream has taken it (or drained); fails when stdout
 * has failed (before or while waiting for it).
 *
 * @category output
 * @since 0.1.0
 */
export const stdout = (text: string): Effect.Effect<void, ReaderGone | StdoutFailed> =>
  Io.Io.use(({ stdout }) =>
    Effect.callback<void, ReaderGone | StdoutFailed>((resume) => {
      const state = Io.guard(stdout)
      if (state.error !== undefined) return resume(Effect.fail(failure(state.error)))
      if (stdout.write(text)) return resume(Effect.void)
      // Full: wait for "drain", or for the error (the guard has recorded it by then) or "close"
      // that means no drain will come.
      const settle = () => {
        forget()
        resume(state.error === undefined ? Effect.void : Effect.fail(failure(state.error)))
      }
      const forget = () => {
        stdout.removeListener("drain", settle)
        stdout.removeListener("error", settle)
        stdout.removeListener("close", settle)
      }
      stdout.once("drain", settle)
      stdout.once("error", settle)
      stdout.once("close", settle)
      return Effect.sync(forget)
    })
  )

/**
 * Writes a line to stdout.
 *
 * @category output
 * @since 0.1.0
 */
export const line = (text: string): Effect.Effect<void, ReaderGone | StdoutFailed> => stdout(`${text}\n`)

/**
 * Writes a line to stderr (progress, notes), never mixed into data on stdout. A stderr that
 * failed (its reader gone too) is left alone: there is nobody to tell.
 *
 * @category output
 * @since 0.1.0
 */
export const note = (text: string): Effect.Effect<void> =>
  Io.Io.use(({ stderr }) =>
    Effect.sync(() => {
      if (Io.guard(stderr).error === undefined) stderr.write(`${text}\n`)
    })
  )
