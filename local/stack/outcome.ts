/**
 * What `npm run upload` reports when the execution SUCCEEDED: one JSON line with `promoted` and, when the model
 * was not promoted, a `reason` with a stable code (docs/errors.md, "Promotion outcomes") and its figures; and the
 * same in words for the progress lines.
 */

interface Decision {
  code?: unknown;
  reasons?: unknown;
  figures?: unknown;
  championVersion?: unknown;
  suspect?: unknown;
}

export interface UploadOutcome {
  promoted: boolean;
  modelVersion: string | null;
  datasetId: string | null;
  featureSetVersion: string | null;
  metrics: unknown;
  reason?: { code: string; message: string; figures: unknown; championVersion: unknown; suspect: boolean };
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function uploadOutcome(result: unknown): UploadOutcome {
  const r = (typeof result === 'object' && result !== null ? result : {}) as Record<string, unknown>;
  const decision = (typeof r.decision === 'object' && r.decision !== null ? r.decision : {}) as Decision;
  const promoted = r.promoted === true;
  const out: UploadOutcome = {
    promoted,
    modelVersion: str(r.modelVersion),
    datasetId: str(r.datasetId),
    featureSetVersion: str(r.featureSetVersion),
    metrics: r.metrics ?? null,
  };
  if (!promoted) {
    const reasons = Array.isArray(decision.reasons) ? decision.reasons.map(String) : [];
    out.reason = {
      code: str(decision.code) ?? 'UNKNOWN',
      message: reasons.join('; ') || 'not promoted',
      figures: decision.figures ?? null,
      championVersion: decision.championVersion ?? null,
      suspect: decision.suspect === true,
    };
  }
  return out;
}

/** The outcome in words, one line per reason. */
export function describeOutcome(outcome: UploadOutcome): string[] {
  if (outcome.promoted) return [`model ${outcome.modelVersion} promoted: the service now answers with it`];
  const reason = outcome.reason;
  const lines = [
    `model ${outcome.modelVersion} registered but NOT promoted (${reason?.code}); the service keeps the current model`,
  ];
  if (reason?.suspect) lines.push(`dataset ${outcome.datasetId} is marked suspect (kept for inspection)`);
  for (const r of (reason?.message ?? '').split('; ')) if (r) lines.push(`  - ${r}`);
  return lines;
}
