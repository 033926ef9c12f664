/**
 * Versioned schema migrations, embedded as strings so the esbuild bundle of a function carries them.
 * Append only: a migration that has shipped is never edited; a change is a new entry with the next version.
 */
import type pg from 'pg';
import { inTransaction } from './pool.ts';
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'datasets_passengers_rejected_models',
    sql: `
CREATE TABLE datasets (
  id            text PRIMARY KEY,
  bucket        text NOT NULL,
  object        text NOT NULL,
  generation    text NOT NULL,
  md5_hash      text,
  crc32c        text,
  size_bytes    bigint,
  row_count     integer NOT NULL,
  rejected_count integer NOT NULL,
  status        text NOT NULL CHECK (status IN ('loaded')),
  created_at    timestamptz NOT NULL,
  finished_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT datasets_source_key UNIQUE (bucket, object, generation)
);

-- One list partition per dataset: the load COPYs into a fresh table and attaches it, so moving a million rows
-- costs an index build, not a second copy; reading a dataset reads its partition only. passengers and
-- rejected_rows carry no foreign key to datasets: only the load transaction that inserts the dataset row
-- writes them, and a per-row check would double the cost of a load.
CREATE TABLE passengers (
  dataset_id   text NOT NULL,
  passenger_id integer NOT NULL,
  line         integer NOT NULL,
  survived     smallint CHECK (survived IN (0, 1)),
  pclass       smallint NOT NULL CHECK (pclass IN (1, 2, 3)),
  name         text NOT NULL,
  sex          text NOT NULL CHECK (sex IN ('male', 'female')),
  age          double precision,
  sib_sp       integer NOT NULL,
  parch        integer NOT NULL,
  ticket       text NOT NULL,
  fare         double precision,
  cabin        text,
  embarked     char(1) CHECK (embarked IN ('C', 'Q', 'S')),
  PRIMARY KEY (dataset_id, passenger_id)
) PARTITION BY LIST (dataset_id);

CREATE TABLE rejected_rows (
  dataset_id text NOT NULL,
  line       integer NOT NULL,
  reason     text NOT NULL,
  raw        text NOT NULL,
  PRIMARY KEY (dataset_id, line)
);

CREATE TABLE models (
  version             text PRIMARY KEY,
  dataset_id          text REFERENCES datasets (id) ON DELETE SET NULL,
  feature_set_version text NOT NULL,
  uri                 text NOT NULL,
  metrics             jsonb NOT NULL,
  params              jsonb NOT NULL,
  promoted            boolean NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL
);
CREATE INDEX models_feature_set_idx ON models (feature_set_version);
`,
  },
  {
    version: 2,
    name: 'promotion_decisions_and_history',
    sql: `
-- The promotion decision of every registered model (reason code and figures), and suspect datasets: a dataset
-- that failed validation is kept for inspection, marked, and its model is never promoted automatically.
ALTER TABLE models ADD COLUMN decision jsonb;
ALTER TABLE models ADD COLUMN suspect boolean NOT NULL DEFAULT false;
ALTER TABLE datasets ADD COLUMN suspect boolean NOT NULL DEFAULT false;
ALTER TABLE datasets ADD COLUMN suspect_reasons jsonb;

-- Every move of models/latest.json: train's promotions, operators' forced promotions and rollbacks.
CREATE TABLE promotions (
  id               bigserial PRIMARY KEY,
  model_version    text NOT NULL REFERENCES models (version),
  previous_version text,
  action           text NOT NULL CHECK (action IN ('promote', 'force-promote', 'rollback')),
  actor            text NOT NULL,
  reason           text NOT NULL,
  at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promotions_at_idx ON promotions (at);
`,
  },
  // The first comment of migration 3 predates the migrate step and is kept as shipped: in the cloud too the function
  // roles are created here, by the owner (so they are not Cloud SQL API users, not members of cloudsqlsuperuser),
  // and the migrate function gives them LOGIN and their passwords afterwards (roles.ts, docs/deploy.md).
  {
    version: 3,
    name: 'function_roles_and_grants',
    sql: `
-- One role per function, holding only what that function does; the migrations' owner keeps every table.
-- In the cloud the LOGIN users of the same names are created by the Pulumi program before a migration runs;
-- where they do not exist (a local database) they are created here without LOGIN, so the grants stay the same
-- everywhere. Roles are cluster-wide: two databases migrating at once may race, and the loser's duplicate is
-- harmless.
DO $roles$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['pipeline_load', 'pipeline_process', 'pipeline_train', 'pipeline_partitions'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
  -- load is a member of the role that owns passengers (below); so is the migrating user, which must be to give
  -- the table away.
  FOREACH r IN ARRAY ARRAY['pipeline_load', CURRENT_USER] LOOP
    IF NOT pg_has_role(r, 'pipeline_partitions', 'MEMBER') THEN
      BEGIN
        EXECUTE format('GRANT pipeline_partitions TO %I', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END
$roles$;

-- load: registers a dataset, its rejected rows, and its passenger partition. ATTACH PARTITION needs ownership
-- of the parent, so passengers is owned by a NOLOGIN role that load is a member of, and load may create its
-- staging table in the schema.
ALTER TABLE passengers OWNER TO pipeline_partitions;
GRANT CREATE ON SCHEMA public TO pipeline_load;
GRANT SELECT, INSERT ON datasets, rejected_rows TO pipeline_load;

-- process: reads a dataset and its passengers.
GRANT SELECT ON datasets, passengers TO pipeline_process;

-- train: reads a dataset and its passengers, marks a dataset suspect, registers and promotes models.
GRANT SELECT ON datasets, passengers TO pipeline_train;
GRANT UPDATE (suspect, suspect_reasons) ON datasets TO pipeline_train;
GRANT SELECT, INSERT, UPDATE ON models TO pipeline_train;
GRANT SELECT, INSERT ON promotions TO pipeline_train;
GRANT USAGE ON SEQUENCE promotions_id_seq TO pipeline_train;

-- Every function may see which migrations are applied (it checks at start), and none may change them.
GRANT SELECT ON schema_migrations TO pipeline_load, pipeline_process, pipeline_train;
`,
  },
  {
    version: 4,
    name: 'process_reads_served_feature_sets',
    sql: `
-- process: learns which feature sets the promoted models were trained on, so that retention never deletes the
-- set of the model being served. Only these three columns: not the metrics, the params or the decisions.
GRANT SELECT (version, feature_set_version, promoted) ON models TO pipeline_process;
`,
  },
];

/** A fixed advisory-lock key (the ASCII of "schemamg") serialising migrations across instances. */
const MIGRATION_LOCK_KEY = '7308044230282929511';

/**
 * Applies the migrations not yet recorded in `schema_migrations`, in order, in one transaction under a
 * transaction-scoped advisory lock: two instances starting at once apply each migration exactly once.
 * Returns the versions applied by this call.
 */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    // A function's role may not create tables: once the owner has applied every migration, the check below
    // needs nothing but SELECT on schema_migrations.
    const { rows: exists } = await client.query<{ t: string | null }>(
      `SELECT to_regclass('schema_migrations')::text AS t`,
    );
    if (exists[0]?.t == null)
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
       version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}
