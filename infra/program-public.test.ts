/**
 * The program with the service made public and a different name prefix and region: allUsers reaches the
 * service and nothing else, and every name follows the prefix.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_OVERRIDES, ofType, PROJECT, type ProgramRun, runProgram } from '../test/support/pulumi.ts';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'infra-public-'));
vi.mock('./bundle.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('./bundle.ts')>();
  return {
    ...real,
    bundleFunctions: (names: readonly string[] = real.FUNCTION_NAMES) =>
      real.bundleFunctions(names, { outDir: path.join(scratch, 'dist') }),
  };
});

let run: ProgramRun;
beforeAll(async () => {
  run = await runProgram(() => import('./index.ts'), {
    ...DEFAULT_OVERRIDES,
    servicePublic: true,
    namePrefix: 'titanic',
    region: 'us-central1',
  });
}, 120_000);

describe('a public service', () => {
  it('grants allUsers run.invoker on the service only, never on a function or a bucket', () => {
    const open = run.resources.filter((r) =>
      [r.inputs.member, ...(r.inputs.members ?? [])].some((m) => m === 'allUsers' || m === 'allAuthenticatedUsers'),
    );
    expect(open.map((r) => `${r.type} ${r.inputs.name} ${r.inputs.role}`)).toEqual([
      'gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding titanic roles/run.invoker',
    ]);
    const [service] = ofType(run, 'gcp:cloudrunv2/service:Service');
    expect(service?.inputs.name).toBe('titanic');
  });

  it('names and places everything from the prefix and the region', () => {
    const functions = ofType(run, 'gcp:cloudfunctionsv2/function:Function');
    expect(functions.map((f) => f.inputs.name).sort()).toEqual(
      ['titanic-fit', 'titanic-load', 'titanic-migrate', 'titanic-process', 'titanic-train', 'titanic-trigger'].sort(),
    );
    for (const f of functions) expect(f.inputs.location).toBe('us-central1');
    expect(ofType(run, 'gcp:storage/bucket:Bucket').map((b) => b.inputs.location)).toEqual([
      'US-CENTRAL1',
      'US-CENTRAL1',
      'US-CENTRAL1',
    ]);
    expect(run.outputs.dataBucket).toBe(`${PROJECT}-titanic-data`);
    expect(run.outputs.workflowName).toBe('titanic-training');
    const trigger = functions.find((f) => f.inputs.name === 'titanic-trigger');
    expect(trigger?.inputs.serviceConfig.environmentVariables.WORKFLOW_NAME).toBe(
      `projects/${PROJECT}/locations/us-central1/workflows/titanic-training`,
    );
  });

  it('runs the app in public mode: labels, lineage and /metrics hidden, each client address rate limited', () => {
    const [service] = ofType(run, 'gcp:cloudrunv2/service:Service');
    const env = Object.fromEntries(
      (service!.inputs.template.containers[0].envs as Array<{ name: string; value?: string }>).map((e) => [
        e.name,
        e.value,
      ]),
    );
    expect(env.PUBLIC_MODE).toBe('true');
    expect(Number(env.RATE_LIMIT_PER_MINUTE)).toBeGreaterThan(0);
  });
});
