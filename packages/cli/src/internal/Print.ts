/**
 * Writing to stdout with backpressure: a large export waits for the pipe instead of buffering the
 * whole store in memory.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { Io } from "./Io.ts"

/**
 * Writes text to stdout, resuming once the stream has taken it (or drained).
 *
 * @category output
 * @since 0.1.0
 */
export const stdout = (text: string): Effect.Effect<void> =>
  Io.use(({ stdout }) =>
    Effect.callback<void>((resume) => {
      if (stdout.write(text)) resume(Effect.void)
      else stdout.once("drain", () => resume(Effect.void))
    })
  )

/**
 * Writes a line to stdout.
 *
 * @category output
 * @since 0.1.0
 */
export const line = (text: string): Effect.Effect<void> => stdout(`${text}\n`)

/**
 * Writes a line to stderr (progress, notes), never mixed into data on stdout.
 *
 * @category output
 * @since 0.1.0
 */
export const note = (text: string): Effect.Effect<void> =>
  Io.use(({ stderr }) => Effect.sync(() => void stderr.write(`${text}\n`)))
