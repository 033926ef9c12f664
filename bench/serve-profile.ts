/**
 * `npx tsx bench/serve-profile.ts [--mode=app|floor] [--duration=10] [--top=40]`: where a server's CPU goes under
 * the bench:serve load. Starts the bundled target (bench/serve-target.ts) under `node --cpu-prof`, warms it up
 * for 2 s, sends POST /v1/predict with one passenger from 16 connections for --duration seconds, stops it (the
 * profile is written on exit) and prints, from the profile:
 *   - samples by category (the service's own code by part, fastify, prom-client, node's HTTP and socket code,
 *     GC, idle), as a share of the non-idle samples and as microseconds of CPU per request;
 *   - the functions with the most self time;
 *   - the inclusive time of the service's parts (what each call tree costs, callees included).
 * The warm-up is profiled too (it is in the same process); the per-request figures divide by every request the
 * process answered, warm-up included.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { tinyArtifact, titanicInstances } from '../test/support/service.ts';
import { bundleTarget, cpuSeconds, load, serviceNodeFlags, start, type TargetMode } from './serve-harness.ts';

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const MODE = arg('mode', 'app') as TargetMode;
const DURATION = Number(arg('duration', '10'));
const TOP = Number(arg('top', '40'));
/** --callers=NAME: also print the call paths (up to 6 frames) that lead to functions named NAME, by self time. */
const CALLERS = arg('callers', '');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Inclusive parts: a sample counts for the innermost of these found walking up from its leaf, matched on
 * `module function` (the module is the bundled source file, e.g. `service/scoring.ts`; a method is `Class.name`).
 */
const PARTS: Array<[string, RegExp]> = [
  ['drift window (fed after the answer)', /^service\/drift-monitor\.ts settle$/],
  ['per-request drift verdict (RequestDrift)', /^shared\/core\/drift\.ts RequestDrift\./],
  ['validation (readInstances)', /^service\/instances\.ts readInstances$/],
  ['answer serialization', /^service\/routes\/predict\.ts serializePrediction$/],
  ['features + forest (model.predict)', /^shared\/core\/model\.ts predict$/],
  ['prom-client (timer, counters)', /^node_modules\/prom-client\//],
  ['JSON body parse', /parseJsonBody$|defaultJsonParser$/],
  ['scorer (the rest)', /^service\/scoring\.ts /],
  ['predict handler (the rest)', /^service\/routes\/predict\.ts handler$/],
];

/** The bundle's source file and enclosing class of each line, from esbuild's `// path` comments. */
function bundleMap(script: string): (line: number) => { module: string; cls: string } {
  const lines = readFileSync(script, 'utf8').split('\n');
  const module: string[] = new Array(lines.length);
  const cls: string[] = new Array(lines.length);
  let m = '';
  let c = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const file = /^\/\/ ((node_modules|service|shared|bench|test)\/\S+)$/.exec(l);
    if (file) {
      m = file[1]!.replace(/^(node_modules\/(@[^/]+\/)?[^/]+)\/.*$/, '$1/');
      c = '';
    }
    const k = /^(?:var (\w+) = class|class (\w+))/.exec(l);
    if (k) c = k[1] ?? k[2] ?? '';
    else if (/^}/.test(l)) c = '';
    module[i] = m;
    cls[i] = c;
  }
  return (line) => ({ module: module[line] ?? '', cls: cls[line] ?? '' });
}

/** Where a leaf frame is when it is not in the bundle (node's own code, native code, V8). */
function category(n: ProfileNode): string {
  const { functionName, url } = n.callFrame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'program (V8, not JS)';
  if (url.startsWith('node:')) {
    if (/_http_|node:http/.test(url)) return 'node http';
    if (/net|stream|internal\/streams/.test(url)) return 'node net/streams';
    return 'node other';
  }
  if (url === '') {
    if (/writev|writeBuffer|writeUtf8String|writeLatin1String/.test(functionName)) return 'socket write (native)';
    return 'native other';
  }
  return 'bundle';
}

async function main(): Promise<void> {
  const artifact = await tinyArtifact({ nEstimators: 200, modelVersion: 'bench-200' });
  const artifactFile = path.join(tmpdir(), 'survival-bench-model.json');
  writeFileSync(artifactFile, JSON.stringify(artifact));
  const passengers = await titanicInstances(891);
  const one = JSON.stringify({ instances: [passengers[1]] });
  const script = await bundleTarget();
  const dir = mkdtempSync(path.join(tmpdir(), 'survival-profile-'));
  const target = await start(script, MODE, MODE === 'app' ? artifactFile : undefined, [
    ...(await serviceNodeFlags()),
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
  ]);
  const warm = await load(target.url, one, 2);
  const cpu0 = cpuSeconds(target.pid);
  const run = await load(target.url, one, DURATION);
  const cpu = cpuSeconds(target.pid) - cpu0;
  await target.stop();
  const requests = warm.requests.total + run.requests.total;
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${dir}`);
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Profile;

  const where = bundleMap(script);
  /** `module function` of a frame: the bundled source file (else the script) and Class.method. */
  const key = (n: ProfileNode): string => {
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    if (!url.endsWith('serve-target.mjs')) return `${url || '(native)'} ${name}`;
    const w = where(lineNumber);
    return `${w.module} ${w.cls && name !== w.cls ? `${w.cls}.${name}` : name}`;
  };
  const label = (n: ProfileNode) => `${key(n)}:${n.callFrame.lineNumber + 1}`;
  const groupOf = (n: ProfileNode): string => {
    const c = category(n);
    if (c !== 'bundle') return c;
    return key(n).split(' ')[0]!;
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let busy = 0;
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  const parts = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const c = groupOf(n);
    categories.set(c, (categories.get(c) ?? 0) + us);
    if (c === 'idle') continue;
    busy += us;
    functions.set(label(n), (functions.get(label(n)) ?? 0) + us);
    // the innermost service part on the stack (a RequestDrift predict is matched by its script line below)
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = key(byId.get(at)!);
      const part = PARTS.find(([, re]) => re.test(k));
      if (part) {
        parts.set(part[0], (parts.get(part[0]) ?? 0) + us);
        break;
      }
    }
  }
  const perRequest = (us: number) => (us / requests).toFixed(1);
  const share = (us: number) => `${((us / busy) * 100).toFixed(1)}%`;
  console.log(
    `mode ${MODE}: ${requests} requests (${warm.requests.total} in the warm-up), ${run.requests.average.toFixed(0)} req/s; ` +
      `CPU in the measured run ${((cpu / run.requests.total) * 1e6).toFixed(0)} us per request (/proc); ` +
      `profile ${(busy / 1e6).toFixed(2)} s busy; load average ${loadavg()[0]!.toFixed(2)}; profile ${path.join(dir, file)}`,
  );
  console.log('\nsamples by where the leaf is (share of busy; us per request)');
  for (const [c, us] of [...categories].sort((a, b) => b[1] - a[1])) {
    if (c !== 'idle') console.log(`  ${c.padEnd(40)} ${share(us).padStart(6)}  ${perRequest(us).padStart(7)}`);
  }
  console.log('\nservice parts, inclusive (share of busy; us per request)');
  for (const [p, us] of [...parts].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${p.padEnd(40)} ${share(us).padStart(6)}  ${perRequest(us).padStart(7)}`);
  }
  if (CALLERS !== '') {
    const paths = new Map<string, number>();
    for (const [id, us] of self) {
      let at: number | undefined = id;
      while (at !== undefined && byId.get(at)!.callFrame.functionName !== CALLERS) at = parent.get(at);
      if (at === undefined) continue;
      const chain: string[] = [];
      for (let up: number | undefined = at; up !== undefined && chain.length < 6; up = parent.get(up)) {
        chain.push(label(byId.get(up)!));
      }
      const key = chain.join(' < ');
      paths.set(key, (paths.get(key) ?? 0) + us);
    }
    console.log(`\ncall paths to ${CALLERS} (share of busy; us per request)`);
    for (const [p, us] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
      console.log(`  ${share(us).padStart(6)}  ${perRequest(us).padStart(7)}  ${p}`);
    }
  }
  console.log(`\ntop ${TOP} functions by self time (share of busy; us per request)`);
  for (const [f, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`  ${f.slice(0, 70).padEnd(70)} ${share(us).padStart(6)}  ${perRequest(us).padStart(7)}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
