/**
 * Checks that a value survives JSON.stringify/parse unchanged, so what a store hands back is what
 * the caller gave it. JSON.stringify alone is not enough: it throws on BigInt and cycles but
 * silently drops functions, symbols and undefined array items, and turns Dates, Maps and NaN into
 * something else.
 *
 * Two more things are refused because no backend could keep them: strings and keys that are not
 * well-formed Unicode (a lone surrogate becomes U+FFFD in SQLite text and is rejected by PostgreSQL's
 * jsonb), and nesting deeper than {@link maxDepth} (the check itself stays depth-bounded, so a
 * 100,000-level value is a typed refusal, not a stack overflow).
 *
 * One value is normalised rather than refused: `-0` is stored as `0`, as JSON.stringify writes it,
 * the same on every backend (JSON has one zero; refusing it would fail an append of `-amount` for
 * an amount of 0).
 */

/** The deepest nesting of arrays and objects a stored value may have: `{"a":[1]}` is depth 2. */
export const maxDepth = 256

// A lone surrogate: in `u` mode a well-formed pair is one code point and does not match.
const loneSurrogate = /\p{Surrogate}/u

// ES2024's native check (Node 20+, workerd) is ~10x the regex on typical payload strings; the regex
// stays for runtimes without it.
const native = (String.prototype as { readonly isWellFormed?: () => boolean }).isWellFormed

/** Whether a string is well-formed Unicode (no lone surrogate). */
export const isWellFormed: (text: string) => boolean = typeof native === "function"
  ? (text) => native.call(text)
  : (text) => !loneSurrogate.test(text)

/** Why a value cannot be stored: `TooDeep` for nesting beyond {@link maxDepth}, else `NotJson`. */
export interface Problem {
  readonly kind: "NotJson" | "TooDeep"
  readonly detail: string
}

/** The first reason `value` is not storable JSON, with the path to the offending part, or undefined. */
export const check = (value: unknown): Problem | undefined => {
  const found = visit(value, [])
  if (found === undefined) return undefined
  let path = "$"
  for (let i = found.keys.length - 1; i >= 0; i--) {
    const key = found.keys[i]
    path += typeof key === "number" ? `[${key}]` : `.${key}`
  }
  return { kind: found.kind, detail: found.reason(path) }
}

/** The first reason `value` is not storable JSON, as text, or undefined. */
export const problem = (value: unknown): string | undefined => check(value)?.detail

// The path is collected on the way back up, so a valid value (every append's) allocates none.
interface Found {
  readonly keys: Array<string | number>
  readonly reason: (path: string) => string
  readonly kind: Problem["kind"]
}

const fail = (reason: (path: string) => string, kind: Problem["kind"] = "NotJson"): Found => ({
  keys: [],
  reason,
  kind
})

const notWellFormed = (path: string) =>
  `${path} contains a lone surrogate (not well-formed Unicode), which backends cannot store unchanged`
const notWellFormedKey = (path: string) =>
  `the key at ${path} contains a lone surrogate (not well-formed Unicode), which backends cannot store unchanged`

// Ancestors as a stack: JSON is shallow, and a short array scan beats Set bookkeeping per object. Its
// length is the depth, which bounds the recursion.
const visit = (value: unknown, ancestors: Array<object>): Found | undefined => {
  switch (typeof value) {
    case "string":
      return isWellFormed(value) ? undefined : fail(notWellFormed)
    case "boolean":
      return undefined
    case "number":
      // -0 passes: JSON has one zero, so it is stored (and reads back) as 0 on every backend. Refusing
      // it would fail appends for `-amount` with amount 0.
      return Number.isFinite(value) ? undefined : fail((path) => `${path} is ${value}, which JSON cannot represent`)
    case "bigint":
      return fail((path) => `${path} is a BigInt; encode it as a string (Schema.BigInt does) before storing`)
    case "undefined":
      return fail((path) => `${path} is undefined; use null or leave the key out`)
    case "function":
      return fail((path) => `${path} is a function`)
    case "symbol":
      return fail((path) => `${path} is a symbol`)
  }
  if (value === null) return undefined
  const object = value as object
  if (ancestors.includes(object)) return fail((path) => `${path} refers back to one of its parents (a cycle)`)
  if (ancestors.length >= maxDepth) {
    return fail((path) => `${path} is nested more than ${maxDepth} levels deep; the limit is ${maxDepth}`, "TooDeep")
  }
  ancestors.push(object)
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = visit(object[i], ancestors)
        if (found !== undefined) {
          found.keys.push(i)
          return found
        }
      }
      return undefined
    }
    const proto = Object.getPrototypeOf(object)
    if (proto !== Object.prototype && proto !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? "object"
      return fail((path) => `${path} is a ${name}, not a plain object; encode it first (for example with its Schema)`)
    }
    if (Object.getOwnPropertySymbols(object).length > 0) return fail((path) => `${path} has symbol keys`)
    const keys = Object.keys(object)
    for (let i = 0; i < keys.length; i++) {
      if (!isWellFormed(keys[i])) return { keys: [keys[i]], reason: notWellFormedKey, kind: "NotJson" }
      const item = (object as Record<string, unknown>)[keys[i]]
      // An undefined property is an absent optional field: JSON drops it and so do we.
      if (item === undefined) continue
      const found = visit(item, ancestors)
      if (found !== undefined) {
        found.keys.push(keys[i])
        return found
      }
    }
    return undefined
  } finally {
    ancestors.pop()
  }
}

/**
 * Whether any value (plain or not: a decoded document before its schema encodes it) nests arrays
 * and objects deeper than `limit`. Recursion stops at `limit`, so the check cannot overflow the stack;
 * a cycle counts as too deep.
 */
export const deeperThan = (value: unknown, limit: number): boolean => {
  if (typeof value !== "object" || value === null) return false
  if (limit <= 0) return true
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (deeperThan(item, limit - 1)) return true
  }
  return false
}

const encoder = new TextEncoder()

/** UTF-8 size of a string, without allocating the bytes for ASCII-only text. */
export const byteLength = (text: string): number => {
  // Fast path: most payloads are ASCII, where length in UTF-16 units equals UTF-8 bytes.

  return /^[\u0000-\u007f]*$/.test(text) ? text.length : encoder.encode(text).length
}
