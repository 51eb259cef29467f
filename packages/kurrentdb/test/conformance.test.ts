import { suite } from "@strata/conformance"
import { storeLayer, targetName } from "./utils.ts"

// The whole conformance suite through the real @kurrent/kurrentdb-client, on the in-repo emulator
// (or on the server named by KURRENTDB_URL). Each exception is a SuiteOptions flag with its reason in
// the README: KurrentDB's own rules, which the backend cannot change atomically from the client.
// Pages of 250 events, so the suite's 600-event streams cross page boundaries (the default is 1,000).
suite(`kurrentdb (${targetName})`, storeLayer({ pageSize: 250 }), {
  rejectsReusedEventIds: false,
  exactMatchesSoftDeleted: true,
  maxAgeMillis: 1000,
  // Checkpoints are a stream of their own: a handler's document writes cannot commit with them.
  transactionalCheckpoints: false,
  // StoreAdmin.layerScan: checkpoints live in streams of their own, not listed.
  listsCheckpoints: false,
  // No interactive transactions (appendMany and put with events are its atomic forms). Its layer
  // takes no inline projections.
  unitsOfWork: false
})
