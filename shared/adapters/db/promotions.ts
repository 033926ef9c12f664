/**
 * Postgres side of promotion: the history of pointer moves (`promotions`), the promoted flag of the model
 * registry, and the suspect mark of a dataset that failed validation. The pointer itself lives in the model store;
 * these rows are the audit trail an operator reads with `npm run models -- list`.
 */
import type pg from 'pg';
import type { PromotionRecord } from '../model-store.ts';
import { dbFailure, inTransaction } from './pool.ts';

export interface PromotionRow extends PromotionRecord {
  id: number;
}

/** Records a pointer move and keeps `models.promoted` true for the model it names (and only for it). */
export async function recordPromotion(db: pg.Pool, record: PromotionRecord): Promise<void> {
  return inTransaction(db, async (client) => {
    await client.query(
      `INSERT INTO promotions (model_version, previous_version, action, actor, reason, at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
      [record.modelVersion, record.previousVersion, record.action, record.actor, record.reason, new Date(record.at)],
    );
    await client.query('UPDATE models SET promoted = (version = $1) WHERE promoted OR version = $1', [
      record.modelVersion,
    ]);
  });
}

export async function listPromotions(db: pg.Pool, limit = 50): Promise<PromotionRow[]> {
  try {
    const { rows } = await db.query<PromotionRow & { at: Date }>(
      `SELECT id::int AS id, model_version AS "modelVersion", previous_version AS "previousVersion", action, actor,
              reason, at
         FROM promotions ORDER BY at DESC, id DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ ...r, at: (r.at as unknown as Date).toISOString() }));
  } catch (err) {
    throw dbFailure(err);
  }
}

/** Marks a dataset suspect (kept, never deleted) with the failed checks that made it so. */
export async function markDatasetSuspect(db: pg.Pool, datasetId: string, reasons: readonly string[]): Promise<void> {
  try {
    await db.query('UPDATE datasets SET suspect = true, suspect_reasons = $2 WHERE id = $1', [
      datasetId,
      JSON.stringify(reasons),
    ]);
  } catch (err) {
    throw dbFailure(err);
  }
}

export async function datasetSuspicion(
  db: pg.Pool,
  datasetId: string,
): Promise<{ suspect: boolean; reasons: string[] } | null> {
  try {
    const { rows } = await db.query<{ suspect: boolean; suspect_reasons: string[] | null }>(
      'SELECT suspect, suspect_reasons FROM datasets WHERE id = $1',
      [datasetId],
    );
    const row = rows[0];
    return row ? { suspect: row.suspect, reasons: row.suspect_reasons ?? [] } : null;
  } catch (err) {
    throw dbFailure(err);
  }
}

/** True when the pointer has ever named this model. */
export async function wasPromoted(db: pg.Pool, modelVersion: string): Promise<boolean> {
  try {
    const { rows } = await db.query('SELECT 1 FROM promotions WHERE model_version = $1 LIMIT 1', [modelVersion]);
    return rows.length > 0;
  } catch (err) {
    throw dbFailure(err);
  }
}
