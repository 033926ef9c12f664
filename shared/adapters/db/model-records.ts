/**
 * Model records in Postgres (the `models` table): every trained model with its lineage, metrics and whether it
 * was promoted. The bucket holds the artifacts; this table is the searchable index of them.
 */
import type pg from 'pg';
import { AppError } from '../../errors.ts';
import { dbFailure } from './pool.ts';

export interface ModelRecord {
  version: string;
  datasetId: string | null;
  featureSetVersion: string;
  uri: string;
  metrics: Record<string, unknown>;
  params: Record<string, unknown>;
  promoted: boolean;
  createdAt: Date;
  /** The promotion decision taken when it was registered (reason code, figures); null before migration 2. */
  decision: Record<string, unknown> | null;
  /** Trained on a dataset that failed validation. */
  suspect: boolean;
}

const MODEL_COLUMNS = `version, dataset_id AS "datasetId", feature_set_version AS "featureSetVersion", uri, metrics, params,
  promoted, created_at AS "createdAt", decision, suspect`;

/** Registers a model; registering the same version again keeps the first record and returns it. */
export async function registerModel(
  db: pg.Pool,
  model: Omit<ModelRecord, 'promoted' | 'decision' | 'suspect'> & {
    decision?: Record<string, unknown> | null;
    suspect?: boolean;
  },
): Promise<ModelRecord> {
  try {
    await db.query(
      `INSERT INTO models (version, dataset_id, feature_set_version, uri, metrics, params, created_at, decision, suspect)
       SELECT $1, (SELECT id FROM datasets WHERE id = $2), $3, $4, $5, $6, $7, $8, $9
       ON CONFLICT (version) DO UPDATE SET decision = COALESCE(models.decision, EXCLUDED.decision),
         suspect = models.suspect OR (models.decision IS NULL AND EXCLUDED.suspect)`,
      [
        model.version,
        model.datasetId,
        model.featureSetVersion,
        model.uri,
        JSON.stringify(model.metrics),
        JSON.stringify(model.params),
        model.createdAt,
        model.decision ? JSON.stringify(model.decision) : null,
        model.suspect ?? false,
      ],
    );
    const stored = await getModel(db, model.version);
    if (!stored) throw new AppError('INTERNAL', 'model registration did not persist');
    return stored;
  } catch (err) {
    throw dbFailure(err);
  }
}

export async function getModel(db: pg.Pool, version: string): Promise<ModelRecord | null> {
  try {
    const { rows } = await db.query<ModelRecord>(`SELECT ${MODEL_COLUMNS} FROM models WHERE version = $1`, [version]);
    return rows[0] ?? null;
  } catch (err) {
    throw dbFailure(err);
  }
}

export async function markModelPromoted(db: pg.Pool, version: string): Promise<void> {
  try {
    await db.query('UPDATE models SET promoted = true WHERE version = $1', [version]);
  } catch (err) {
    throw dbFailure(err);
  }
}

export async function listModels(db: pg.Pool): Promise<ModelRecord[]> {
  try {
    const { rows } = await db.query<ModelRecord>(`SELECT ${MODEL_COLUMNS} FROM models ORDER BY created_at, version`);
    return rows;
  } catch (err) {
    throw dbFailure(err);
  }
}

/**
 * The feature sets the promoted model(s) were trained on: the set of the model being served, which feature-store
 * retention must keep (`GET /v1/passengers/{id}` reads it). Reads only `feature_set_version` and `promoted`, the
 * columns the `process` role may see.
 */
export async function servedFeatureSets(db: pg.Pool): Promise<string[]> {
  try {
    const { rows } = await db.query<{ v: string }>(
      'SELECT DISTINCT feature_set_version AS v FROM models WHERE promoted ORDER BY 1',
    );
    return rows.map((r) => r.v);
  } catch (err) {
    throw dbFailure(err);
  }
}
