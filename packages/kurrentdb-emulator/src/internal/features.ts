/**
 * ServerFeatures/GetSupportedMethods: the version and the methods the client checks before it
 * chooses how to append. BatchAppend is left out, so the client falls back to Append; the v2
 * AppendSession is listed only where it is served.
 */
import type * as grpc from "@grpc/grpc-js"
import * as P from "../protocol.ts"

export const featuresService = (
  options: { readonly serverVersion?: string | undefined },
  multiStream: boolean
) => ({
  getSupportedMethods: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
    const methods = new P.features.SupportedMethods()
    methods.setEventStoreServerVersion(options.serverVersion ?? "25.1.0")
    const add = (service: string, method: string) => {
      const m = new P.features.SupportedMethod()
      m.setServiceName(service)
      m.setMethodName(method)
      methods.addMethods(m)
    }
    for (const method of ["read", "append", "delete", "tombstone"]) add("event_store.client.streams.Streams", method)
    if (multiStream) add("kurrentdb.protocol.v2.streams.StreamsService", "appendsession")
    callback(null, methods)
  }
})
