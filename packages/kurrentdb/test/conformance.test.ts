import { suite } from "@strata/conformance"
import { storeLayer, targetName } from "./utils.ts"

// The whole conformance suite through the real @kurrent/kurrentdb-client, on the in-repo emulator
// (or on the server named by KURRENTDB_URL). What KurrentDB does differently (its own rules, which the
// backend cannot change from the client) the suite reads from the layer's record; the README says why.
// Pages of 250 events, so the suite's 600-event streams cross page boundaries (the default is 1,000).
suite(`kurrentdb (${targetName})`, storeLayer({ pageSize: 250 }))
