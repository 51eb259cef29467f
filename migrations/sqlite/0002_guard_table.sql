-- Strata migration 2: guard_table
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_guard (ok INTEGER NOT NULL CHECK (ok = 1));

INSERT INTO strata_migrations (id, name, applied_at) VALUES (2, 'guard_table', CURRENT_TIMESTAMP);
