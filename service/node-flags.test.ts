import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from './node-flags.ts';

describe('SERVICE_NODE_FLAGS', () => {
  it('are the flags of the image CMD, before the script', () => {
    const dockerfile = readFileSync(path.join(import.meta.dirname, 'Dockerfile'), 'utf8');
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile);
    expect(cmd).not.toBeNull();
    const args = JSON.parse(cmd![1]!) as string[];
    expect(args[0]).toBe('node');
    const script = args.indexOf('server.mjs');
    expect(script).toBeGreaterThan(0);
    for (const flag of SERVICE_NODE_FLAGS) expect(args.slice(1, script)).toContain(flag);
  });

  it('are flags this node accepts (it starts with them and runs a script)', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, [...SERVICE_NODE_FLAGS, '-e', 'console.log("ok")'], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('ok');
  });
});
