// The PostgreSQL test fixtures (PgTestServer, PgTestDatabase, makeSecondClient) live in
// @strata/test-utils (tests/test-utils/src/PgTestDatabase.ts), shared with the other packages'
// tests; the tests here keep importing them from ./utils.ts.
export * from "@strata/test-utils/PgTestDatabase"
