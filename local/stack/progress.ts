/**
 * The terminal view of a training execution: a spinner while a pipeline step (an HTTP call of the workflow's
 * `main`) runs, then one line with its outcome and the figures that matter (rows, features, metrics).
 */
import type { Writable } from 'node:stream';
import type { EngineStepEvent } from '../workflows-engine/index.ts';

export interface StepReporter {
  step(event: EngineStepEvent): void;
  info(message: string): void;
  fail(message: string): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function field(value: unknown, key: string): unknown {
  return value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

/** The one-line summary of a step's answer body (migrate, load, process, train contracts). */
export function summarizeStep(step: string, body: unknown): string {
  const f = (k: string): unknown => field(body, k);
  switch (step) {
    case 'migrate': {
      const list = (k: string): unknown[] => (Array.isArray(f(k)) ? (f(k) as unknown[]) : []);
      const applied = list('applied');
      const logins = list('logins');
      return `schema ${applied.length > 0 ? `migrated (${applied.join(', ')})` : 'current'}${logins.length > 0 ? `, logins set: ${logins.join(', ')}` : ''}`;
    }
    case 'load':
      return `dataset ${f('datasetId')}: ${f('rows')} rows loaded, ${f('rejected')} rejected${f('alreadyLoaded') ? ' (already loaded)' : ''}`;
    case 'process':
      return `feature set ${f('featureSetVersion')}: ${f('trainRows')} train + ${f('syntheticRows')} synthetic (SMOTE), ${f('testRows')} test rows`;
    case 'train': {
      const m = f('metrics');
      const pct = (k: string): string => {
        const v = field(m, k);
        return typeof v === 'number' ? v.toFixed(3) : '?';
      };
      return `model ${f('modelVersion')}: accuracy ${pct('accuracy')}, F1 ${pct('f1')}, ROC AUC ${pct('rocAuc')}, ${f('promoted') ? 'promoted' : `NOT promoted (${field(f('decision'), 'code') ?? 'no decision'})`}`;
    }
    default:
      return JSON.stringify(body);
  }
}

export function createStepReporter(out: Writable & { isTTY?: boolean }): StepReporter {
  const tty = Boolean(out.isTTY);
  let spinner: NodeJS.Timeout | undefined;
  let current = '';
  const clear = (): void => {
    if (spinner) clearInterval(spinner);
    spinner = undefined;
    if (tty && current) out.write('\r\x1b[2K');
    current = '';
  };
  const line = (text: string): void => {
    clear();
    out.write(`${text}\n`);
  };
  return {
    step(event) {
      if (event.type === 'retry') {
        line(`  ↻ ${event.step}: retry ${event.attempt} in ${event.delaySeconds}s`);
        return;
      }
      if (event.routine !== 'main' || !event.call?.startsWith('http.')) return;
      if (event.type === 'step-start') {
        clear();
        current = event.step;
        const started = Date.now();
        if (tty) {
          let i = 0;
          spinner = setInterval(() => {
            const secs = ((Date.now() - started) / 1000).toFixed(0);
            out.write(`\r${FRAMES[i++ % FRAMES.length]} ${event.step} (${secs}s)`);
          }, 100);
        } else {
          out.write(`… ${event.step}\n`);
        }
      } else if (event.type === 'step-end') {
        const secs = (event.durationMs / 1000).toFixed(1);
        if (event.outcome === 'ok')
          line(`✔ ${event.step} ${secs}s  ${summarizeStep(event.step, field(event.result, 'body'))}`);
        else line(`✘ ${event.step} ${secs}s  ${JSON.stringify(field(event.error, 'body') ?? event.error)}`);
      }
    },
    info: (message) => line(message),
    fail: (message) => line(`✘ ${message}`),
  };
}
