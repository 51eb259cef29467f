-- Strata migration 6: leases
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  token bigint NOT NULL,
  expires_at bigint NOT NULL
);

INSERT INTO strata_migrations (id, name, applied_at) VALUES (6, 'leases', CURRENT_TIMESTAMP);
