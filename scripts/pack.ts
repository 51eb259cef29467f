/**
 * `npm run pack`: every published package built and packed into one folder, and the one `npm install`
 * line that installs them into a project of yours (until the packages are on the registry).
 *
 *   npm run pack                      # into .strata/packages
 *   npm run pack -- --out ../tarballs # anywhere else
 *
 * The line names every tarball: npm then takes `@strata/*` dependencies from them (each package
 * depends on the others at this exact version), and `effect` from the registry at the range the
 * packages declare as a peer. The tarball test (`npm run test:tarball`) installs the same tarballs
 * outside the repository and runs the README quick start on them.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")
const outArg = process.argv.indexOf("--out")
const out = path.resolve(
  outArg >= 0 && process.argv[outArg + 1] !== undefined
    ? process.argv[outArg + 1]!
    : path.join(root, ".strata", "packages")
)

const run = (command: string, args: ReadonlyArray<string>) =>
  execFileSync(command, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })

/** The packages that are published: every packages/* that is not private. */
export const published = () =>
  fs.readdirSync(path.join(root, "packages"))
    .filter((dir) => fs.existsSync(path.join(root, "packages", dir, "package.json")))
    .map((dir) => ({
      dir,
      manifest: JSON.parse(fs.readFileSync(path.join(root, "packages", dir, "package.json"), "utf8"))
    }))
    .filter(({ manifest }) => manifest.private !== true)

if (import.meta.main) {
  console.log("building every package (tsc -b tsconfig.build.json) ...")
  run(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-b", "tsconfig.build.json"])
  fs.rmSync(out, { recursive: true, force: true })
  fs.mkdirSync(out, { recursive: true })
  const packages = published()
  const packed = JSON.parse(
    run("npm", [
      "pack",
      "--json",
      "--pack-destination",
      out,
      ...packages.flatMap(({ dir }) => ["--workspace", `packages/${dir}`])
    ])
  ) as ReadonlyArray<{ readonly name: string; readonly filename: string; readonly size: number }>
  for (const p of packed) {
    console.log(`  ${p.filename.padEnd(36)} ${(p.size / 1024).toFixed(0).padStart(5)} kB  ${p.name}`)
  }
  const effect = packages.find(({ dir }) => dir === "core")!.manifest.peerDependencies.effect as string
  console.log(`\n${packed.length} packages in ${out}. In your project, install them (with effect from the registry):\n`)
  console.log(`  npm install ${packed.map((p) => path.join(out, p.filename)).join(" ")} "effect@${effect}"\n`)
  console.log(
    "Only the ones you use are needed, with what they depend on: @strata/core always; e.g. @strata/sqlite needs @strata/sql."
  )
}
