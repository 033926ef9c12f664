/**
 * The window's shortcuts against the direct computation: an evaluation works out a chi2 p-value only when the
 * statistic can reach the level, decides without the correction when no p-value was needed, finds the KS
 * statistic from occupancy bits, and leaves the window's rows as they were evaluated to be put back together
 * when the full result is read. Every decision must still be TabularDrift's on the window's rows, and every full
 * result the one read at once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type DriftWorld, loadDriftWorld, SHIFTS, sampler } from '../../test/support/drift-streams.ts';
import { type Correction, TabularDrift } from './drift.ts';
import { WindowDrift, type WindowDriftOptions } from './drift-window.ts';
import { createRng, type Rng } from './rng.ts';

let world: DriftWorld;
beforeAll(async () => {
  world = await loadDriftWorld(42);
});

/** Requests drifting in and out: stretches of in-distribution rows, of each shift mixed in, and of odd values. */
function stream(rng: Rng): () => number[][] {
  const rows = sampler(world, rng);
  const referenceValues = world.reference.columns;
  let i = 0;
  return () => {
    const phase = Math.floor(i++ / 40) % 6;
    const one = (): number[] => {
      if (phase === 0 || phase === 5) return rows.normal();
      if (phase <= 3)
        return rng.int(3) === 0 ? rows.shifted(SHIFTS[(phase + rng.int(2)) % SHIFTS.length]!) : rows.normal();
      // a NaN, an infinity, an unseen category, a reference value of another row, or a value between two
      const out = [...rows.normal()];
      const f = rng.int(out.length);
      const column = referenceValues[f]!;
      out[f] = [Number.NaN, Number.POSITIVE_INFINITY, 77, column[rng.int(column.length)]!, out[f]! + 0.25][rng.int(5)]!;
      return out;
    };
    return Array.from({ length: 1 + (rng.int(5) === 0 ? rng.int(8) : 0) }, one);
  };
}

const SETTINGS: Array<{ correction: Correction; ert: number; windowSize: number; evaluateEvery: number }> = [
  { correction: 'bonferroni', ert: 1_000_000, windowSize: 200, evaluateEvery: 10 },
  { correction: 'fdr', ert: 1_000_000, windowSize: 200, evaluateEvery: 10 },
  // Lenient levels: many features near their lines, where a chi2 left out wrongly would show.
  { correction: 'bonferroni', ert: 60, windowSize: 100, evaluateEvery: 3 },
  { correction: 'fdr', ert: 40, windowSize: 60, evaluateEvery: 2 },
];

describe('WindowDrift evaluations against TabularDrift on the window', () => {
  it('decide as TabularDrift decides, and report its figures, at every evaluation (both corrections, four levels)', () => {
    let nearLine = 0;
    let drifting = 0;
    for (const [s, settings] of SETTINGS.entries()) {
      const rng = createRng(20 + s);
      const next = stream(rng);
      const window = new WindowDrift(world.reference, { ...settings, rowsPerRequest: 3, seed: s });
      const direct = new TabularDrift(world.reference, {
        pVal: window.alpha,
        correction: settings.correction,
        ksMethod: 'auto',
      });
      for (let i = 0; i < 1500; i++) {
        const e = window.add(next());
        if (e === null) continue;
        const expected = direct.predict(window.contents());
        expect({ i, isDrift: e.isDrift, drifted: e.drifted }).toEqual({
          i,
          isDrift: expected.isDrift,
          drifted: expected.drifted,
        });
        if (expected.isDrift) drifting++;
        // Every third evaluation is read at once (the others are read later or never: see below).
        if (i % 3 === 0) {
          const last = window.state().last!;
          expect(last.statistics).toEqual(expected.statistics);
          expect(last.pValues).toEqual(expected.pValues);
          expect(last.drifted).toEqual(expected.drifted);
        }
        for (const f of expected.features) {
          if (f.test === 'chi2' && f.pValue > f.threshold / 3 && f.pValue < f.threshold * 3) nearLine++;
        }
      }
    }
    expect(drifting).toBeGreaterThan(200);
    expect(nearLine).toBeGreaterThan(50); // chi2 p-values close to their lines, on both sides
  });

  it('gives the same full result read at once or long after, when the window has moved on', () => {
    const opts: WindowDriftOptions = { windowSize: 50, evaluateEvery: 120, rowsPerRequest: 2, seed: 7 };
    const atOnce = new WindowDrift(world.reference, opts);
    const later = new WindowDrift(world.reference, opts);
    const rng = createRng(31);
    const next = stream(rng);
    const delays = [0, 1, 5, 24, 25, 26, 49, 50, 51, 90, 119];
    let pending: { evaluation: number; readAfter: number; expected: unknown } | null = null;
    let evaluations = 0;
    let compared = 0;
    for (let i = 0; i < 6000; i++) {
      const rows = next();
      const e = atOnce.add(rows);
      expect(later.add(rows)).toEqual(e);
      if (e !== null) {
        evaluations++;
        const expected = atOnce.state().last;
        pending = { evaluation: evaluations, readAfter: delays[evaluations % delays.length]!, expected };
      }
      if (pending !== null && pending.readAfter-- === 0) {
        expect(later.state().last).toStrictEqual(pending.expected);
        compared++;
        pending = null;
      }
    }
    expect(compared).toBeGreaterThan(40);
  });
});
