// A SQLite compiler that compiles each statement shape once.
//
// effect/sql compiles a statement every time it runs: the template's segments are concatenated into a
// new SQL string, and every identifier is escaped with two regular expressions. For SQLite the SQL of
// a statement depends only on its shape (its literals, its identifiers, where its parameters are: every
// placeholder is `?`), so this compiler keeps the SQL of each shape in a trie walked segment by
// segment and hands out the same string every time, which the connection's prepared-statement cache
// then finds without hashing a new string. A statement of one `INSERT ... ON CONFLICT` with two
// identifiers: ~1 us of client CPU per execution through the SqlClient saved (issue 23).
//
// Shapes the trie does not cover (array, record and custom helpers) go to the compiler as they are.
// The trie is bounded: past `maxNodes` nodes or `maxChars` characters of keys it starts over, so a
// program building SQL text dynamically (`sql.unsafe` with ever new text) costs memory no more than that.
import type * as Statement from "effect/sql/Statement"

interface Node {
  literals: Map<string, Node> | undefined
  identifiers: Map<string, Node> | undefined
  parameter: Node | undefined
  sql: string | undefined
}

// The segments a shape is made of; every other tag compiles as it is.
type Segment =
  | { readonly _tag: "Literal"; readonly value: string; readonly params?: ReadonlyArray<unknown> | undefined }
  | { readonly _tag: "Identifier"; readonly value: string }
  | { readonly _tag: "Parameter"; readonly value: unknown }
  | { readonly _tag: string }

const node = (): Node => ({ literals: undefined, identifiers: undefined, parameter: undefined, sql: undefined })

/** The default bound on the trie's nodes. */
export const defaultMaxNodes = 20_000

/** The default bound on the characters of the trie's keys (the literals and identifiers it holds). */
export const defaultMaxChars = 4_000_000

/**
 * `compiler` with the SQL of each shape remembered (see the module comment). Only for compilers whose
 * SQL is a function of the shape alone: every placeholder the same (SQLite's `?`).
 */
export const make = (
  compiler: Statement.Compiler,
  maxNodes = defaultMaxNodes,
  maxChars = defaultMaxChars
): Statement.Compiler => {
  // One trie per transform setting: identifiers compile differently with and without it.
  let roots: [Node, Node] = [node(), node()]
  let nodes = 0
  let chars = 0
  let withoutTransform: Statement.Compiler | undefined

  const child = (map: Map<string, Node>, key: string): Node => {
    let next = map.get(key)
    if (next === undefined) {
      next = node()
      map.set(key, next)
      nodes++
      chars += key.length
    }
    return next
  }

  const compile = (statement: Statement.Fragment, noTransform: boolean): readonly [string, ReadonlyArray<unknown>] => {
    const segments = statement.segments as ReadonlyArray<Segment>
    if (nodes > maxNodes || chars > maxChars) {
      roots = [node(), node()]
      nodes = 0
      chars = 0
    }
    let at = roots[noTransform ? 1 : 0]
    const binds: Array<unknown> = []
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]
      switch (segment._tag) {
        case "Literal": {
          const { params, value } = segment as Extract<Segment, { readonly _tag: "Literal" }>
          at = child(at.literals ??= new Map(), value)
          if (params !== undefined) { for (let j = 0; j < params.length; j++) binds.push(params[j]) }
          break
        }
        case "Identifier": {
          at = child(at.identifiers ??= new Map(), (segment as Extract<Segment, { readonly _tag: "Identifier" }>).value)
          break
        }
        case "Parameter": {
          if (at.parameter === undefined) {
            at.parameter = node()
            nodes++
          }
          at = at.parameter
          binds.push((segment as Extract<Segment, { readonly _tag: "Parameter" }>).value)
          break
        }
        default:
          return compiler.compile(statement, noTransform)
      }
    }
    if (at.sql === undefined) {
      const compiled = compiler.compile(statement, noTransform)
      at.sql = compiled[0]
      return compiled
    }
    return [at.sql, binds]
  }

  return {
    dialect: compiler.dialect,
    compile,
    get withoutTransform() {
      return withoutTransform ??= make(compiler.withoutTransform, maxNodes, maxChars)
    }
  }
}
