// What the DocumentStore on KurrentDB keeps where: one Strata-owned stream per document,
// `$strata-doc-<collection>-<id>`, whose latest event is the document (`$strata.document`) or its
// deletion (`$strata.document-deleted`), and what those events hold.

export const documentType = "$strata.document"
export const deletedType = "$strata.document-deleted"

export const prefixOf = (collection: string) => `$strata-doc-${collection}-`
export const streamOf = (collection: string, id: string) => `${prefixOf(collection)}${id}`

export interface Stored {
  readonly version: bigint
  readonly encoded: unknown
}

export interface Latest {
  /** The stream revision of the latest event, undefined when the stream is empty. */
  readonly revision: bigint | undefined
  /** The document, undefined when missing or deleted. */
  readonly document: Stored | undefined
}

export interface DocumentData {
  readonly collection: string
  readonly id: string
  readonly version?: string
  readonly json?: string
}

/** The document a `$strata.document` event holds; undefined for a deletion or an event without one. */
export const storedOf = (type: string, data: DocumentData): Stored | undefined =>
  type === documentType && data.json !== undefined && data.version !== undefined
    ? { version: BigInt(data.version), encoded: JSON.parse(data.json) }
    : undefined
