import { suite } from "@strata/conformance"
import { MemoryStore } from "@strata/core"

suite("memory", MemoryStore.layer())
