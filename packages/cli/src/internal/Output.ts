/**
 * What the `strata` command prints, and how: URLs without their password, numbers grouped, errors
 * as one line.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Redacted from "effect/Redacted"

/**
 * A store URL safe to print: its password (and any `password=` query parameter) replaced by `***`:
 * `redactUrl("postgres://app:s3cret@db:5432/app")` is `"postgres://app:***@db:5432/app"`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const redactUrl = (url: string | Redacted.Redacted<string>): string => {
  const text = Redacted.isRedacted(url) ? Redacted.value(url) : url
  return text
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, "$1:***@")
    .replace(/([?&]password=)[^&#]*/gi, "$1***")
}

/**
 * Every secret part of a URL (password, `password=` parameter), so output can be scrubbed of them.
 *
 * @category formatting
 * @since 0.1.0
 */
export const secretsOf = (url: string | Redacted.Redacted<string>): ReadonlyArray<string> => {
  const text = Redacted.isRedacted(url) ? Redacted.value(url) : url
  const secrets: Array<string> = []
  const password = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]*)@/i.exec(text)?.[1]
  if (password !== undefined && password !== "") secrets.push(password)
  for (const match of text.matchAll(/[?&]password=([^&#]*)/gi)) if (match[1] !== "") secrets.push(match[1])
  for (const secret of [...secrets]) {
    try {
      const decoded = decodeURIComponent(secret)
      if (decoded !== secret) secrets.push(decoded)
    } catch {
      // not percent-encoded
    }
  }
  return secrets
}

/**
 * Replaces every secret in a text by `***`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((out, secret) => out.split(secret).join("***"), text)

/**
 * A whole number with thousands separators: `12,345`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const count = (n: number | bigint): string => n.toLocaleString("en-US")

/**
 * A byte size: `12.3 MB`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const bytes = (n: number): string => {
  const units = ["B", "kB", "MB", "GB", "TB"]
  let value = n
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/**
 * A duration in seconds, short: `42 s`, `3 min 20 s`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const seconds = (s: number): string => {
  if (!Number.isFinite(s)) return "?"
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`
}

/**
 * One readable line for a failure: the error's message (tagged errors name what to do), without a
 * stack. `verbose` gives the whole cause instead.
 *
 * @category errors
 * @since 0.1.0
 */
export const describeFailure = <E>(cause: Cause.Cause<E>, verbose: boolean): string =>
  verbose ? Cause.pretty(cause) : oneLine(cause).replace(/\s*\n\s*/g, " ")

const oneLine = <E>(cause: Cause.Cause<E>): string => {
  const error = Cause.squash(cause)
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : undefined
    const message = "message" in error && typeof error.message === "string" && error.message !== ""
      ? error.message
      : undefined
    if (message === undefined) return tag ?? String(error)
    // The command's own errors (UsageError, CheckFailed) speak for themselves; a store error keeps its tag.
    const plain = tag === undefined || tag === "UsageError" || tag === "CheckFailed" || message.includes(tag)
    return plain ? message : `${tag}: ${message}`
  }
  return String(error).split("\n")[0]
}
