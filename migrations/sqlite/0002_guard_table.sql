-- Strata migration 2: guard_table
-- Generated from packages/sql/src/Migrations.ts; a test keeps this file equal to it.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_guard (ok INTEGER NOT NULL CHECK (ok = 1));

INSERT INTO strata_migrations (id, name, applied_at) VALUES (2, 'guard_table', CURRENT_TIMESTAMP);
