// vitest globalSetup for test projects that run the built output (the D1 Worker bundle): bring dist/
// up to date first. `tsc -b` is incremental, so this costs under a second when nothing changed.
import { execFileSync } from "node:child_process"
import * as path from "node:path"

export default function setup(): void {
  const root = path.join(import.meta.dirname, "..")
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit"
  })
}
