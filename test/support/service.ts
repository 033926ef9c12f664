/**
 * Helpers for the service's tests and benchmark: a small real model trained by the core on data/titanic.csv
 * (few trees, one search candidate: about a second), an in-memory ModelSource, a log sink, and `buildTestApp`.
 * Nothing here is used in production.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppDeps, buildApp } from '../../service/app.ts';
import type { DriftAlert } from '../../service/drift-monitor.ts';
import { ModelRegistry, type ModelSource } from '../../service/model-registry.ts';
import type { ModelArtifact } from '../../shared/core/artifact.ts';
import { buildArtifact } from '../../shared/core/artifact.ts';
import { readPassengerCsv } from '../../shared/core/csv-stream.ts';
import { passengerRecord } from '../../shared/core/passenger-validation.ts';
import { prepareFeatureSet, resolveFeatureSetOptions, trainingInputOf } from '../../shared/core/pipeline.ts';
import type { LabelledPassenger, RecipeVersion } from '../../shared/core/schema.ts';
import { trainModel } from '../../shared/core/training.ts';
import { createLogger, type Logger } from '../../shared/log.ts';

const TITANIC = new URL('../../data/titanic.csv', import.meta.url);

export interface TinyModelOptions {
  modelVersion?: string;
  nEstimators?: number;
  seed?: number;
  featureSetVersion?: string | null;
  /** Default 1 (the tests' models were always recipe v1 models). */
  recipeVersion?: RecipeVersion;
}

/**
 * A small model trained by the core, cached on disk between test files. The cache key hashes the options,
 * the data and every core source file, so a change to the core retrains instead of reusing a stale model.
 */
export async function tinyArtifact(opts: TinyModelOptions = {}): Promise<ModelArtifact> {
  const hash = createHash('sha256')
    .update(JSON.stringify(opts))
    .update(await readFile(TITANIC));
  const coreDir = new URL('../../shared/core/', import.meta.url);
  for (const name of (await readdir(coreDir)).filter((n) => /\.(ts|mjs)$/.test(n) && !n.endsWith('.test.ts')).sort()) {
    hash.update(name).update(await readFile(new URL(name, coreDir)));
  }
  const dir = join(tmpdir(), 'survival-service-test-models');
  const file = join(dir, `${hash.digest('hex').slice(0, 24)}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ModelArtifact;
  } catch {
    const artifact = await trainTinyArtifact(opts);
    await mkdir(dir, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    await writeFile(partial, JSON.stringify(artifact));
    await rename(partial, file); // atomic: a parallel test file never reads half a model
    return artifact;
  }
}

/** Trains a small forest with the core's own pipeline (recipe fit on the train split, SMOTE, search, refit). */
export async function trainTinyArtifact(opts: TinyModelOptions = {}): Promise<ModelArtifact> {
  const seed = opts.seed ?? 7;
  const { rows } = await readPassengerCsv(await readFile(TITANIC, 'utf8'), { requireSurvived: true });
  const passengers = rows.map((r) => r.passenger as LabelledPassenger);
  const prepared = prepareFeatureSet(
    passengers,
    resolveFeatureSetOptions({ splitSeed: seed, recipeVersion: opts.recipeVersion ?? 1 }),
  );
  const training = await trainModel(trainingInputOf(prepared), {
    candidates: 1,
    folds: 2,
    repeats: 1,
    seed,
    space: {
      nEstimators: [opts.nEstimators ?? 15],
      maxFeatures: [5],
      maxDepth: [8],
      minNumSamples: [3],
      gainThreshold: [0],
    },
  });
  return buildArtifact({
    modelVersion: opts.modelVersion ?? 'tiny-1',
    createdAt: '2026-01-01T00:00:00.000Z',
    lineage: { datasetId: 'ds-test', featureSetVersion: opts.featureSetVersion ?? null },
    recipe: prepared.recipe,
    training,
    trainX: prepared.train.X,
  });
}

/** Returns a copy of the artifact under another version (cheap: no training). */
export function withVersion(artifact: ModelArtifact, modelVersion: string): ModelArtifact {
  return { ...artifact, modelVersion };
}

/** A ModelSource in memory: `promote` writes an artifact and moves the pointer, like `train` does in GCS. */
export class MemoryModelSource implements ModelSource {
  readonly objects = new Map<string, unknown>();
  pointer: { value: unknown; generation: string } | null = null;
  #generation = 0;
  /** When set, every read rejects with it (a bucket that cannot be reached). */
  failWith: Error | null = null;
  reads = 0;

  promote(artifact: unknown, version = (artifact as { modelVersion?: string }).modelVersion ?? 'v'): void {
    const object = `models/${version}/model.json`;
    this.objects.set(object, artifact);
    this.pointer = { value: { modelVersion: version, object }, generation: String(++this.#generation) };
  }

  async readPointer() {
    if (this.failWith) throw this.failWith;
    return this.pointer;
  }

  async readArtifact(objectName: string): Promise<unknown> {
    this.reads++;
    if (this.failWith) throw this.failWith;
    return this.objects.get(objectName);
  }
}

export interface LogEntry {
  severity: string;
  message: string;
  [field: string]: unknown;
}

/** A logger whose entries land in an array (nothing is printed). */
export function memoryLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return { logger: createLogger({ sink: (line) => entries.push(JSON.parse(line) as LogEntry) }), entries };
}

/** A passenger as the JSON API takes it (raw CSV columns). */
export function rawPassenger(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    PassengerId: 1001,
    Pclass: 2,
    Name: 'Hart, Mrs. Benjamin (Esther Ada Bloomfield)',
    Sex: 'female',
    Age: 45,
    SibSp: 1,
    Parch: 1,
    Ticket: 'F.C.C. 13529',
    Fare: 26.25,
    Cabin: null,
    Embarked: 'S',
    ...overrides,
  };
}

/** The first `n` passengers of data/titanic.csv as JSON API instances (ordinary passengers: no drift). */
export async function titanicInstances(n: number, offset = 0): Promise<Array<Record<string, unknown>>> {
  const { rows } = await readPassengerCsv(await readFile(TITANIC, 'utf8'), { requireSurvived: true });
  return rows.slice(offset, offset + n).map(({ passenger }) => passengerRecord(passenger));
}

export interface TestApp {
  app: ReturnType<typeof buildApp>;
  registry: ModelRegistry;
  source: MemoryModelSource;
  logs: LogEntry[];
  alerts: DriftAlert[];
}

/** An app over an in-memory registry that has loaded `artifact` (if given). */
export async function buildTestApp(
  artifact: ModelArtifact | null,
  overrides: Partial<AppDeps> & {
    driftWindow?: number;
    driftEvery?: number;
    driftErt?: number;
    driftRowsPerRequest?: number;
  } = {},
): Promise<TestApp> {
  const { logger, entries } = memoryLogger();
  const source = new MemoryModelSource();
  const registry = new ModelRegistry({
    source,
    logger,
    driftWindow: overrides.driftWindow,
    driftEvery: overrides.driftEvery,
    driftErt: overrides.driftErt,
    driftRowsPerRequest: overrides.driftRowsPerRequest,
  });
  if (artifact) {
    source.promote(artifact);
    await registry.refresh();
  }
  const alerts: DriftAlert[] = [];
  const app = buildApp({
    models: registry,
    verifyPush: async () => {},
    publishAlert: async (alert) => {
      alerts.push(alert);
      return 'message-1';
    },
    logger,
    ...overrides,
  });
  return { app, registry, source, logs: entries, alerts };
}
