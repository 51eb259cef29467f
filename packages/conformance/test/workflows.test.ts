// Durable workflows on the memory backend (the same topic runs on SQLite and PostgreSQL in their
// packages' Workflows.test.ts).
import { workflowSuite } from "@strata/conformance"
import { JobQueue, MemoryStore } from "@strata/core"
import * as Layer from "effect/Layer"

workflowSuite("memory", Layer.merge(MemoryStore.layer(), JobQueue.layerMemory))
