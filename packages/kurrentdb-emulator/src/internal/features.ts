/**
 * ServerFeatures/GetSupportedMethods, as `ServerFeatures.cs` builds it: every client-facing method,
 * service and method names lower-cased, Read with the features `position` and `events`, BatchAppend
 * with `deadline_duration`, the PersistentSubscriptions methods with `stream` and `all`. The client checks it before choosing how to append: with BatchAppend
 * listed it appends through BatchAppend (as against every server since 21.10); a server started in the
 * older mode leaves it out, so the client falls back to Append. The v2 AppendSession and AppendRecords
 * are listed only where they are served (the client refuses `appendRecords` before 26.1 itself).
 */
import type * as grpc from "@grpc/grpc-js"
import * as P from "../protocol.ts"

export const featuresService = (
  options: { readonly serverVersion?: string | undefined },
  served: { readonly multiStream: boolean; readonly batchAppend: boolean; readonly appendRecords: boolean }
) => ({
  getSupportedMethods: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
    const methods = new P.features.SupportedMethods()
    const version = options.serverVersion ?? (served.appendRecords ? "26.1.0" : "25.1.0")
    methods.setEventStoreServerVersion(version)
    const add = (service: string, method: string, features: ReadonlyArray<string> = []) => {
      const m = new P.features.SupportedMethod()
      m.setServiceName(service)
      m.setMethodName(method)
      m.setFeaturesList([...features])
      methods.addMethods(m)
    }
    const streams = "event_store.client.streams.streams"
    add(streams, "read", ["position", "events"])
    for (const method of ["append", "delete", "tombstone"]) add(streams, method)
    if (served.batchAppend) add(streams, "batchappend", ["deadline_duration"])
    // Persistent subscriptions to $all came with 21.10: an older version advertises streams only.
    const persistent = "event_store.client.persistent_subscriptions.persistentsubscriptions"
    const [major = 0, minor = 0] = version.split(".").map(Number)
    const sources = major > 21 || (major === 21 && minor >= 10) ? ["stream", "all"] : ["stream"]
    for (const method of ["create", "update", "delete", "read", "getinfo", "replayparked", "list"]) {
      add(persistent, method, sources)
    }
    add(persistent, "restartsubsystem", sources)
    if (served.multiStream) add("kurrentdb.protocol.v2.streams.streamsservice", "appendsession")
    if (served.appendRecords) add("kurrentdb.protocol.v2.streams.streamsservice", "appendrecords")
    callback(null, methods)
  }
})
