// The whole conformance suite on a named store (memory): the suite's code is written against the
// unnamed services, so it runs on `Orders.unnamed` over `Orders.layer(...)`, the path a program takes
// to bind consumers, projections and its own code to a named store. A second named store in the
// same layer proves the names keep them apart.
import { suite } from "@strata/conformance"
import { MemoryStore, NamedStore } from "@strata/core"
import * as Layer from "effect/Layer"

const Orders = NamedStore.make("orders")
const Billing = NamedStore.make("billing")

suite(
  "memory, named store",
  (projections) =>
    Orders.unnamed.pipe(
      Layer.provide(Layer.merge(Orders.layer(MemoryStore.layer({ projections })), Billing.layer(MemoryStore.layer())))
    ),
  { pollInterval: "50 millis" }
)
