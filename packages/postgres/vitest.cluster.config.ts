// The failover tests (test/cluster): each starts a pg_auto_failover cluster of its own (a monitor and two
// PostgreSQL 15 nodes from the system packages) and kills its primary. Slow (a minute or two per mode),
// so kept out of `npm test` and run by `npm run test:postgres:cluster`.
import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "postgres-cluster",
      include: ["test/cluster/**/*.cluster.ts"],
      testTimeout: 600_000,
      hookTimeout: 600_000,
      // The two modes start their clusters one after the other: the machine has 2 cores.
      fileParallelism: false
    }
  })
)
