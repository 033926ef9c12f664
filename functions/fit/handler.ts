/**
 * `fit`: one candidate of the randomized search, scored on every cross-validation fold. The branch of a fanned-out
 * search (workflows/training.yaml runs one call per candidate in a `parallel for`).
 *
 * `{featureSetVersion, candidate}` -> `{featureSetVersion, candidate, params, scores, seconds}`. The training rows
 * come from the feature store; the candidates and folds follow from the search options and seed, the same ones the
 * `train` function is configured with, so candidate `c`'s scores are exactly those the single-call search computes
 * for it, and `train` given every candidate's scores selects exactly what it would have selected itself.
 * Pure computation over stored inputs: retrying a call is harmless.
 */
import { unpackRows } from '../../shared/adapters/feature-store/layout.ts';
import type { FeatureStore } from '../../shared/adapters/feature-store/store.ts';
import { resolveSearchOptions, type SearchSettings } from '../../shared/core/pipeline.ts';
import { scoreOneCandidate } from '../../shared/core/search.ts';
import { searchRowsOf } from '../../shared/core/search-sample.ts';
import type { ForestParams } from '../../shared/core/training.ts';
import { AppError } from '../../shared/errors.ts';
import { threadPoolRunner } from '../../shared/runtime/search-pool.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';

/** SEARCH_CANDIDATES, SEARCH_SEED, SEARCH_MAX_ROWS, TRAIN_WORKERS: the same values as the train function's. */
export interface FitConfig extends SearchSettings {
  workers?: number | undefined;
  /** SEARCH_MAX_ROWS: a larger training split is searched on a stratified sample of this many rows. */
  searchMaxRows?: number | undefined;
}

export interface FitDeps extends EdgeDeps {
  featureStore: FeatureStore;
  config: FitConfig;
}

export interface FitRequest {
  featureSetVersion: string;
  candidate: number;
}

export interface FitResult {
  featureSetVersion: string;
  candidate: number;
  params: ForestParams;
  /** Accuracy on each fold's held-out real rows. */
  scores: number[];
  seconds: number;
}

export function parseFitRequest(body: unknown): FitRequest {
  const o = asObject(body);
  const featureSetVersion = requireString(o, 'featureSetVersion', /^[A-Za-z0-9._-]{1,128}$/);
  const candidate = o.candidate;
  if (typeof candidate !== 'number' || !Number.isInteger(candidate) || candidate < 0)
    throw new AppError('BAD_REQUEST', 'candidate must be a non-negative integer', { field: 'candidate' });
  return { featureSetVersion, candidate };
}

/**
 * The fold scores every fit returned, as the workflow collects them (a map from the candidate index, as a string, to
 * its scores), in candidate order; null when the body has none (the single-call search). Counts are checked against
 * the search options by `searchFromScores`.
 */
export function parseFoldScores(value: unknown): number[][] | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value))
    throw new AppError('BAD_REQUEST', 'foldScores must be a map from candidate index to fold scores', {
      field: 'foldScores',
    });
  const entries = Object.entries(value as Record<string, unknown>);
  const out: number[][] = new Array(entries.length);
  for (const [key, scores] of entries) {
    const c = /^(0|[1-9][0-9]{0,5})$/.test(key) ? Number(key) : -1;
    if (c < 0 || c >= entries.length)
      throw new AppError('BAD_REQUEST', `foldScores: the keys must be the candidates 0..${entries.length - 1}`, {
        field: `foldScores.${key}`,
      });
    if (
      !Array.isArray(scores) ||
      scores.length === 0 ||
      !scores.every((s) => typeof s === 'number' && s >= 0 && s <= 1)
    )
      throw new AppError('BAD_REQUEST', 'foldScores: each candidate needs a list of accuracies in [0, 1]', {
        field: `foldScores.${key}`,
      });
    out[c] = scores as number[];
  }
  return out;
}

export async function fitCandidate(deps: FitDeps, req: FitRequest): Promise<FitResult> {
  const started = performance.now();
  const { config } = deps;
  const { candidates, folds, repeats, seed, space } = config;
  const search = resolveSearchOptions({ candidates, folds, repeats, seed, space });
  if (req.candidate >= search.candidates)
    throw new AppError(
      'BAD_REQUEST',
      `candidate ${req.candidate} does not exist: the search has ${search.candidates}`,
      {
        field: 'candidate',
      },
    );
  const m = await deps.featureStore.readMatrices(req.featureSetVersion);
  if (!m)
    throw new AppError('FEATURE_SET_NOT_FOUND', `no feature set ${req.featureSetVersion}`, {
      featureSetVersion: req.featureSetVersion,
    });
  // the rows the single-call search runs on: the split, or its search sample above SEARCH_MAX_ROWS; recipe v2:
  // each fold's group features from its training rows only
  const rows = searchRowsOf(m.recipe, m.trainIds, unpackRows(m.train), config.searchMaxRows, search.seed);
  const { params, scores } = await scoreOneCandidate(rows.X, rows.y, req.candidate, {
    ...search,
    featureNames: m.meta.featureNames,
    ...(rows.foldView === undefined ? {} : { foldView: rows.foldView }),
    runner: threadPoolRunner(config.workers),
  });
  return {
    featureSetVersion: req.featureSetVersion,
    candidate: req.candidate,
    params,
    scores,
    seconds: (performance.now() - started) / 1000,
  };
}

export function makeFitHandler(deps: FitDeps) {
  return makeJsonHandler('fit', deps, parseFitRequest, (req) => fitCandidate(deps, req));
}
