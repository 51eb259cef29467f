// Column values as the drivers hand them over: PostgreSQL gives bigint and boolean, SQLite and D1
// give numbers (or bigint) and 0/1.

export const big = (value: unknown): bigint => typeof value === "bigint" ? value : BigInt(value as string | number)

export const optionalBig = (value: unknown): bigint | undefined =>
  value === null || value === undefined ? undefined : big(value)

export const bool = (value: unknown): boolean =>
  value === true || value === 1 || value === 1n || value === "1" || value === "t"
