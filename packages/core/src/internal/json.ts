/**
 * Checks that a value survives JSON.stringify/parse unchanged, so what a store hands back is what
 * the caller gave it. JSON.stringify alone is not enough: it throws on BigInt and cycles but
 * silently drops functions, symbols and undefined array items, and turns Dates, Maps and NaN into
 * something else.
 */

/** The first reason `value` is not plain JSON, with the path to the offending part, or undefined. */
export const problem = (value: unknown): string | undefined => {
  const found = visit(value, [])
  if (found === undefined) return undefined
  let path = "$"
  for (let i = found.keys.length - 1; i >= 0; i--) {
    const key = found.keys[i]
    path += typeof key === "number" ? `[${key}]` : `.${key}`
  }
  return found.reason(path)
}

// The path is collected on the way back up, so a valid value (every append's) allocates none.
interface Found {
  readonly keys: Array<string | number>
  readonly reason: (path: string) => string
}

const fail = (reason: (path: string) => string): Found => ({ keys: [], reason })

// Ancestors as a stack: JSON is shallow, and a short array scan beats Set bookkeeping per object.
const visit = (value: unknown, ancestors: Array<object>): Found | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
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

const encoder = new TextEncoder()

/** UTF-8 size of a string, without allocating the bytes for ASCII-only text. */
export const byteLength = (text: string): number => {
  // Fast path: most payloads are ASCII, where length in UTF-16 units equals UTF-8 bytes.

  return /^[\u0000-\u007f]*$/.test(text) ? text.length : encoder.encode(text).length
}
