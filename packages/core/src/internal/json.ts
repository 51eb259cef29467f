/**
 * Checks that a value survives JSON.stringify/parse unchanged, so what a store hands back is what
 * the caller gave it. JSON.stringify alone is not enough: it throws on BigInt and cycles but
 * silently drops functions, symbols and undefined array items, and turns Dates, Maps and NaN into
 * something else.
 */

/** The first reason `value` is not plain JSON, with the path to the offending part, or undefined. */
export const problem = (value: unknown): string | undefined => visit(value, "$", new Set())

const visit = (value: unknown, path: string, ancestors: Set<object>): string | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot represent`
    case "bigint":
      return `${path} is a BigInt; encode it as a string (Schema.BigInt does) before storing`
    case "undefined":
      return `${path} is undefined; use null or leave the key out`
    case "function":
      return `${path} is a function`
    case "symbol":
      return `${path} is a symbol`
  }
  if (value === null) return undefined
  const object = value as object
  if (ancestors.has(object)) return `${path} refers back to one of its parents (a cycle)`
  ancestors.add(object)
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = visit(object[i], `${path}[${i}]`, ancestors)
        if (found !== undefined) return found
      }
      return undefined
    }
    const proto = Object.getPrototypeOf(object)
    if (proto !== Object.prototype && proto !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? "object"
      return `${path} is a ${name}, not a plain object; encode it first (for example with its Schema)`
    }
    if (Object.getOwnPropertySymbols(object).length > 0) return `${path} has symbol keys`
    for (const [key, item] of Object.entries(object)) {
      // An undefined property is an absent optional field: JSON drops it and so do we.
      if (item === undefined) continue
      const found = visit(item, `${path}.${key}`, ancestors)
      if (found !== undefined) return found
    }
    return undefined
  } finally {
    ancestors.delete(object)
  }
}

const encoder = new TextEncoder()

/** UTF-8 size of a string, without allocating the bytes for ASCII-only text. */
export const byteLength = (text: string): number => {
  // Fast path: most payloads are ASCII, where length in UTF-16 units equals UTF-8 bytes.

  return /^[\u0000-\u007f]*$/.test(text) ? text.length : encoder.encode(text).length
}
