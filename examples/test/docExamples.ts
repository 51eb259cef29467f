// The `@example` blocks of the packages' doc comments, as TypeDoc renders them, and one TypeScript
// program that compiles them all (examples/test/docExamples.test.ts runs it in `npm test`).
//
// What counts as a block (TypeDoc's rule for `@example`): the fenced code blocks of the tag's content
// (```ts, ```typescript or an unlabelled fence; a fence in another language is not TypeScript and is
// left alone), or, when the content has no fence, the whole content, which TypeDoc then shows as code.
// A block meant as a fragment (it uses names it does not declare, or `yield*` outside a generator)
// says so with a `// @example-fragment` line inside a fence (the README's Contributing section);
// such blocks are listed, not compiled.
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

/** One code block of an `@example` tag. */
export interface Block {
  /** The source file, relative to the repository. */
  readonly file: string
  /** The 1-based line of the block's first code line in `file`. */
  readonly line: number
  readonly code: string
  /** The block carries the `// @example-fragment` marker. */
  readonly fragment: boolean
}

/** The marker of a block that is deliberately not a whole module. */
export const fragmentMarker = "// @example-fragment"

const fence = /^\s*(`{3,}|~{3,})\s*([\w-]*)/
const typescriptFence = new Set(["", "ts", "typescript", "mts", "tsx"])

/**
 * The `@example` blocks of one TypeScript source text. `file` names it in the blocks; lines are the
 * text's own.
 */
export const extract = (file: string, text: string): Array<Block> => {
  const blocks: Array<Block> = []
  const lines = text.split("\n")
  let inComment = false
  // The open example: the comment lines of its content, each with its 1-based line in `file`.
  let example: Array<{ readonly text: string; readonly line: number }> | undefined
  let inFence = false
  const close = () => {
    if (example !== undefined) blocks.push(...blocksOf(file, example))
    example = undefined
    inFence = false
  }
  // Opens an example when `content` is an `@example` tag. Text on the tag's line is a title when the
  // content is fenced, else the first code line.
  const open = (content: string, line: number) => {
    const tag = /^@example\b(.*)$/.exec(content)
    if (tag === null) return
    example = tag[1].trim() === "" ? [] : [{ text: tag[1].replace(/^ /, ""), line }]
  }
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]
    if (!inComment) {
      const start = raw.indexOf("/**")
      if (start === -1 || raw.slice(start).includes("*/")) continue
      inComment = true
      continue
    }
    const end = raw.includes("*/")
    // The comment's text: without the leading ` * ` (or the closing `*/`).
    const content = raw.replace(/\*\/.*$/, "").replace(/^\s*\* ?/, "").replace(/^\s*$/, "")
    if (example === undefined) {
      open(content, index + 1)
    } else {
      if (fence.test(content)) inFence = !inFence
      if (!inFence && /^@[a-zA-Z]/.test(content)) {
        // Another block tag ends the example (and may open the next one).
        close()
        open(content, index + 1)
      } else if (!end) {
        example.push({ text: content, line: index + 1 })
      }
    }
    if (end) {
      close()
      inComment = false
    }
  }
  return blocks
}

const blocksOf = (
  file: string,
  content: ReadonlyArray<{ readonly text: string; readonly line: number }>
): Array<Block> => {
  const make = (code: ReadonlyArray<{ readonly text: string; readonly line: number }>): Block => {
    const text = code.map((line) => line.text).join("\n")
    return { file, line: code[0]?.line ?? 0, code: text, fragment: text.includes(fragmentMarker) }
  }
  if (!content.some((line) => fence.test(line.text))) {
    // No fence: TypeDoc shows the whole content as code.
    let first = 0
    let last = content.length
    while (first < last && content[first].text.trim() === "") first++
    while (last > first && content[last - 1].text.trim() === "") last--
    return first === last ? [] : [make(content.slice(first, last))]
  }
  const blocks: Array<Block> = []
  let open: { readonly marker: string; readonly typescript: boolean } | undefined
  let code: Array<{ readonly text: string; readonly line: number }> = []
  for (const line of content) {
    const match = fence.exec(line.text)
    if (open === undefined) {
      if (match !== null) {
        open = { marker: match[1], typescript: typescriptFence.has(match[2].toLowerCase()) }
        code = []
      }
    } else if (match !== null && match[1][0] === open.marker[0] && match[2] === "") {
      if (open.typescript && code.length > 0) blocks.push(make(code))
      open = undefined
    } else {
      code.push(line)
    }
  }
  return blocks
}

/** The TypeScript files under `packages/*\/src`, relative to `root`, in a stable order. */
export const sourceFiles = (root: string): Array<string> => {
  const files: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const relative = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(relative)
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(relative)
    }
  }
  for (const pkg of fs.readdirSync(path.join(root, "packages")).sort()) {
    if (fs.existsSync(path.join(root, "packages", pkg, "src"))) walk(path.join("packages", pkg, "src"))
  }
  return files.sort()
}

/** Every `@example` block of the packages' sources. */
export const allBlocks = (root: string): Array<Block> =>
  sourceFiles(root).flatMap((file) => extract(file, fs.readFileSync(path.join(root, file), "utf8")))

/** A block that does not compile, with TypeScript's diagnostics at the block's lines in its source. */
export interface Failure {
  readonly block: Block
  /** `file:line: TSnnnn message`, one per diagnostic. */
  readonly diagnostics: ReadonlyArray<string>
}

/**
 * Compiles `blocks` (fragments left out) as modules in one TypeScript program with the repository's
 * compiler options (tsconfig.json), written into `dir` (a folder inside the repository, so `@strata/*`
 * imports resolve through the workspace as a user's do). Unused names are allowed: an example
 * declares values to show them. Returns the blocks that do not compile.
 */
export const compile = (root: string, dir: string, blocks: ReadonlyArray<Block>): Array<Failure> => {
  const config = ts.readConfigFile(path.join(root, "tsconfig.json"), ts.sys.readFile)
  if (config.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"))
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
  fs.mkdirSync(dir, { recursive: true })
  const files = new Map<string, Block>()
  blocks.forEach((block, index) => {
    if (block.fragment) return
    const name = `${String(index).padStart(3, "0")}-${block.file.replace(/[/\\.]/g, "_")}-${block.line}.ts`
    const file = path.join(dir, name)
    fs.writeFileSync(file, block.code + "\n")
    files.set(path.resolve(file), block)
  })
  const program = ts.createProgram([...files.keys()], {
    ...options,
    noEmit: true,
    noUnusedLocals: false,
    noUnusedParameters: false
  })
  const failures: Array<Failure> = []
  for (const [file, block] of files) {
    const source = program.getSourceFile(file)
    if (source === undefined) throw new Error(`${file} is not in the program`)
    const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
    if (diagnostics.length === 0) continue
    failures.push({
      block,
      diagnostics: diagnostics.map((diagnostic) => {
        const line = diagnostic.start === undefined ? 0 : source.getLineAndCharacterOfPosition(diagnostic.start).line
        const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n  ")
        return `${block.file}:${block.line + line}: TS${diagnostic.code} ${message}`
      })
    })
  }
  return failures
}
