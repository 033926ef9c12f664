/**
 * `npm run models -- list | show VERSION | promote VERSION [--force --why TEXT] [--who NAME] | rollback`
 *
 * The model registry for operators: what is registered and what is served, one model's decision and figures,
 * promotion by hand, and rollback to the previously promoted version. Every move of `models/latest.json` goes
 * through the model store's compare-and-set, is recorded in the `promotions` table (who, why) and in the pointer's
 * history, and is announced on `model-published` (each service instance also polls the pointer).
 *
 * Promoting a model whose decision was not a promotion (suspect data, worse than the champion, below the floor)
 * needs `--force` and `--why`. Against the local stack (`npm run local`, found through `--data-dir`, default
 * .local-data) or, with `--models-bucket B --project P` and PG* variables, against a real project.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import pg from 'pg';
import { localStorageClient } from '../local/gcs/gcs-emulator.ts';
import { localPubSubClient } from '../local/pubsub/pubsub-emulator.ts';
import { readStackState } from '../local/stack/stack.ts';
import { migrate } from '../shared/adapters/db/migrations.ts';
import { getModel, listModels, type ModelRecord } from '../shared/adapters/db/model-records.ts';
import { datasetSuspicion, listPromotions, recordPromotion } from '../shared/adapters/db/promotions.ts';
import { type Publisher, publishJson } from '../shared/adapters/events.ts';
import {
  gcsModelStore,
  type ModelPointer,
  type ModelStore,
  type PromotionAction,
  type PromotionEvidence,
  type PromotionRecord,
  pointerFor,
  sha256Hex,
} from '../shared/adapters/model-store.ts';
import { parseArtifact } from '../shared/core/artifact.ts';
import { AppError } from '../shared/errors.ts';
import { runCli, UsageError } from './run.ts';

const USAGE = `usage: npm run models -- <command> [options]
  list                          registered models, the served one marked, and the recent promotions
  show VERSION                  one model: metrics, decision with its figures, dataset validation, promotions
  promote VERSION               point models/latest.json at VERSION (--force --why TEXT when its decision was not
                                a promotion); --who NAME (default: the OS user)
  rollback                      point models/latest.json back at the previously promoted version [--why TEXT]
options: --data-dir DIR (local stack, default .local-data) | --models-bucket B --project P (a real project;
         Postgres from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE) | --topic T (default model-published) | --json`;

export interface ModelsDeps {
  pool: pg.Pool;
  store: ModelStore;
  pubsub: Publisher;
  topic: string;
  now?: () => Date;
  out: (line: string) => void;
}

const PROMOTABLE = new Set(['PROMOTED', 'PROMOTED_FIRST_MODEL', 'NEWER_MODEL_SERVING']);

const decisionOf = (m: ModelRecord) =>
  (m.decision ?? {}) as { code?: string; reasons?: string[]; evidence?: PromotionEvidence };

/**
 * The version a rollback returns to: walking the pointer's history from the newest entry, the first version that
 * is not the one serving and was not itself rolled away from.
 */
export function rollbackTarget(pointer: ModelPointer): string | null {
  const skip = new Set([pointer.modelVersion]);
  for (const h of pointer.history ?? []) {
    if (h.action === 'rollback' && h.previousVersion) skip.add(h.previousVersion);
    if (!skip.has(h.modelVersion)) return h.modelVersion;
  }
  return null;
}

/** Moves the pointer to `version` if it still names `expected`; records and announces the move. */
async function movePointerTo(
  deps: ModelsDeps,
  version: string,
  expected: string | null,
  record: Omit<PromotionRecord, 'modelVersion' | 'previousVersion' | 'at'>,
): Promise<PromotionRecord> {
  const model = await getModel(deps.pool, version);
  if (!model) throw new AppError('NOT_FOUND', `no registered model ${version}`, { version });
  const object = `models/${version}/model.json`;
  const bytes = await deps.store.readArtifactBytes(object);
  const artifact = parseArtifact(bytes); // never point at an artifact the service would refuse
  const stored = { sha256: sha256Hex(bytes), size: bytes.length };
  let written: PromotionRecord | null = null;
  let moved = false;
  await deps.store.movePointer((current) => {
    moved = (current?.modelVersion ?? null) !== expected;
    if (moved) return null;
    const full: PromotionRecord = {
      ...record,
      modelVersion: version,
      previousVersion: current?.modelVersion ?? null,
      at: (deps.now ?? (() => new Date()))().toISOString(),
    };
    written = full;
    return pointerFor(artifact, stored, model.uri, full, current, decisionOf(model).evidence);
  });
  if (moved || written === null) {
    throw new AppError('UNAVAILABLE', 'models/latest.json moved while this command ran; look again and re-run');
  }
  const done = written as PromotionRecord;
  await recordPromotion(deps.pool, done);
  await publishJson(
    deps.pubsub,
    deps.topic,
    { modelVersion: version, uri: model.uri, promoted: true, action: done.action },
    { modelVersion: version, promoted: 'true' },
  );
  return done;
}

export async function runModelsCommand(
  deps: ModelsDeps,
  command: string,
  args: { version?: string; force?: boolean; who: string; why?: string; json?: boolean },
): Promise<number> {
  const current = await deps.store.readPointer();
  const serving = current?.pointer.modelVersion ?? null;
  switch (command) {
    case 'list': {
      const models = await listModels(deps.pool);
      const promotions = await listPromotions(deps.pool, 10);
      if (args.json) {
        deps.out(JSON.stringify({ serving, models, promotions }));
        return 0;
      }
      deps.out('  version               created                   accuracy  decision               suspect');
      for (const m of models) {
        const accuracy = (m.metrics as { accuracy?: number }).accuracy;
        deps.out(
          `${m.version === serving ? '*' : ' '} ${m.version.padEnd(21)} ${m.createdAt.toISOString().padEnd(25)} ${
            typeof accuracy === 'number' ? accuracy.toFixed(4) : '?     '
          }    ${(decisionOf(m).code ?? '-').padEnd(22)} ${m.suspect ? 'yes' : 'no'}`,
        );
      }
      deps.out(`serving: ${serving ?? 'nothing promoted'}`);
      deps.out('recent promotions:');
      for (const p of promotions) {
        deps.out(
          `  ${p.at} ${p.action} ${p.modelVersion} (from ${p.previousVersion ?? '-'}) by ${p.actor}: ${p.reason}`,
        );
      }
      return 0;
    }
    case 'show': {
      if (!args.version) throw new UsageError(USAGE);
      const m = await getModel(deps.pool, args.version);
      if (!m) throw new AppError('NOT_FOUND', `no registered model ${args.version}`, { version: args.version });
      const promotions = (await listPromotions(deps.pool, 1000)).filter((p) => p.modelVersion === m.version);
      const dataset = m.datasetId ? await datasetSuspicion(deps.pool, m.datasetId) : null;
      deps.out(JSON.stringify({ ...m, serving: m.version === serving, dataset, promotions }, null, 2));
      return 0;
    }
    case 'promote': {
      if (!args.version) throw new UsageError(USAGE);
      const m = await getModel(deps.pool, args.version);
      if (!m) throw new AppError('NOT_FOUND', `no registered model ${args.version}`, { version: args.version });
      if (m.version === serving) {
        deps.out(`${m.version} is already served`);
        return 0;
      }
      const code = decisionOf(m).code ?? 'UNDECIDED';
      const needsForce = !PROMOTABLE.has(code) || m.suspect;
      if (needsForce && !(args.force && args.why)) {
        throw new UsageError(
          `${m.version} was not promoted by train (${code}${m.suspect ? ', suspect dataset' : ''}): promoting it needs --force and --why "..."`,
        );
      }
      const action: PromotionAction = needsForce ? 'force-promote' : 'promote';
      const done = await movePointerTo(deps, m.version, serving, {
        action,
        actor: args.who,
        reason: args.why ?? `promoted by hand (train's decision: ${code})`,
      });
      deps.out(
        `${done.action}: models/latest.json now names ${done.modelVersion} (was ${done.previousVersion ?? '-'})`,
      );
      deps.out(JSON.stringify(done));
      return 0;
    }
    case 'rollback': {
      if (!current) throw new AppError('NOT_FOUND', 'nothing is promoted: there is nothing to roll back');
      const target = rollbackTarget(current.pointer);
      if (!target) throw new AppError('NOT_FOUND', `no version was promoted before ${serving}`);
      const done = await movePointerTo(deps, target, serving, {
        action: 'rollback',
        actor: args.who,
        reason: args.why ?? `rollback from ${serving}`,
      });
      deps.out(`rollback: models/latest.json now names ${done.modelVersion} (was ${done.previousVersion ?? '-'})`);
      deps.out(JSON.stringify(done));
      return 0;
    }
    default:
      throw new UsageError(USAGE);
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      force: { type: 'boolean', default: false },
      who: { type: 'string' },
      why: { type: 'string' },
      json: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      'models-bucket': { type: 'string' },
      project: { type: 'string' },
      topic: { type: 'string', default: 'model-published' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, version, ...extra] = positionals;
  if (values.help || !command || extra.length > 0) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  let storage: Storage;
  let bucket: string;
  let pubsub: PubSub;
  let pool: pg.Pool;
  if (values['models-bucket']) {
    storage = new Storage(values.project ? { projectId: values.project } : {});
    bucket = values['models-bucket'];
    pubsub = new PubSub(values.project ? { projectId: values.project } : {});
    pool = new pg.Pool({ max: 2 }); // PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
  } else {
    const state = readStackState(values['data-dir'] ? path.resolve(values['data-dir']) : undefined);
    storage = localStorageClient(state.gcsUrl);
    bucket = state.modelsBucket;
    pubsub = localPubSubClient(state.pubsubHost, state.project);
    pool = new pg.Pool({ ...state.pg, max: 2 });
  }
  try {
    await migrate(pool);
    return await runModelsCommand(
      {
        pool,
        store: gcsModelStore(storage, bucket),
        pubsub,
        topic: values.topic,
        out: (line) => process.stdout.write(`${line}\n`),
      },
      command,
      {
        ...(version === undefined ? {} : { version }),
        force: values.force,
        who: values.who ?? process.env.USER ?? os.userInfo().username,
        ...(values.why === undefined ? {} : { why: values.why }),
        json: values.json,
      },
    );
  } finally {
    await pool.end();
    await pubsub.close();
  }
}

runCli(import.meta.url, main);
