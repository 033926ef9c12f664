import { beforeAll, describe, expect, it } from 'vitest';
import { type DriftWorld, driftWorldOf, loadDriftWorld, SHIFTS, sampler } from '../../test/support/drift-streams.ts';
import { DriftInputError, RequestDrift, TabularDrift } from './drift.ts';
import { WindowDrift } from './drift-window.ts';
import { featurize } from './features.ts';
import { createRng } from './rng.ts';
import type { Passenger } from './schema.ts';
import { chi2Contingency, ks2samp } from './stats/index.ts';

let world: DriftWorld;
beforeAll(async () => {
  world = await loadDriftWorld(42);
});

const column = (rows: readonly number[][], f: number) => rows.map((r) => r[f]!);
const nameIndex = (name: string) => world.reference.featureNames.indexOf(name);

const SEED_DEMO: Passenger = {
  passengerId: 1,
  pclass: 3,
  name: 'Doe, Mr. John',
  sex: 'male',
  age: 1000,
  sibSp: 0,
  parch: 0,
  ticket: 'X',
  fare: -500,
  cabin: null,
  embarked: 'S',
};

describe('TabularDrift', () => {
  it('runs KS on continuous features and chi2_contingency on categorical ones, over the union of categories', () => {
    const batch = world.heldOut.slice(0, 60).map((i) => world.features[i]!);
    const result = new TabularDrift(world.reference).predict(batch);
    for (const [f, name] of world.reference.featureNames.entries()) {
      const feature = result.features[f]!;
      expect(feature.name).toBe(name);
      expect(feature.type).toBe(world.reference.featureTypes[f]);
      if (feature.type === 'continuous') {
        expect(feature.test).toBe('ks');
        expect(feature.pValue).toBe(ks2samp(column(batch, f), world.reference.columns[f]!, 'asymp').pValue);
      } else {
        expect(feature.test).toBe('chi2');
        const categories = [...new Set([...world.reference.columns[f]!, ...column(batch, f)])].sort((a, b) => a - b);
        const count = (xs: readonly number[], c: number) => xs.filter((x) => x === c).length;
        const table = [
          categories.map((c) => count(world.reference.columns[f]!, c)),
          categories.map((c) => count(column(batch, f), c)),
        ];
        expect(feature.pValue).toBe(chi2Contingency(table).pValue);
        expect(feature.statistic).toBe(chi2Contingency(table).statistic);
      }
    }
    expect(result.features.filter((f) => f.test === 'chi2').map((f) => f.name)).toEqual([
      'Pclass',
      'Sex',
      'Embarked',
      'Isalone',
      'HasCabin',
      'Title',
    ]);
  });

  it('counts a category the reference never saw as its own column of the table', () => {
    const f = nameIndex('Embarked');
    const rows = world.heldOut.slice(0, 40).map((i) => [...world.features[i]!]);
    rows[0]![f] = 7;
    const got = new TabularDrift(world.reference).predict(rows).features[f]!;
    const ref = world.reference.columns[f]!;
    const cur = column(rows, f);
    const table = [0, 1, 2, 7].map((c) => [ref.filter((x) => x === c).length, cur.filter((x) => x === c).length]);
    expect(got.pValue).toBe(chi2Contingency([table.map((r) => r[0]!), table.map((r) => r[1]!)]).pValue);
  });

  it('flags drift only when a p-value is below pVal / features (Bonferroni)', () => {
    const age = nameIndex('Age');
    const batch = world.heldOut.slice(0, 60).map((i, k) => {
      const row = [...world.features[i]!];
      if (k < 25) row[age] = row[age]! + 12;
      return row;
    });
    const probe = new TabularDrift(world.reference).predict(batch);
    const minP = Math.min(...Object.values(probe.pValues));
    expect(minP).toBe(probe.pValues.Age);
    const lenient = new TabularDrift(world.reference, { pVal: minP * 11 * 0.99 }).predict(batch);
    expect(lenient.isDrift).toBe(false);
    const strict = new TabularDrift(world.reference, { pVal: minP * 11 * 1.01 }).predict(batch);
    expect(strict.drifted).toEqual(['Age']);
    expect(strict.threshold).toBeCloseTo((minP * 11 * 1.01) / 11, 15);
    expect(strict.driftedShare).toBeCloseTo(1 / 11, 15);
  });

  it("rejects with Benjamini-Hochberg's step-up when FDR is chosen: more than Bonferroni, never above the line", () => {
    const tests = [0.001, 0.006, 0.012, 0.02, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99].map((pValue) => ({
      test: 'ks' as const,
      statistic: 0,
      pValue,
    }));
    const bonferroni = new TabularDrift(world.reference, { pVal: 0.05 }).decide(tests);
    expect(bonferroni.drifted).toEqual(['Pclass']); // 0.001 < 0.05/11; 0.006 is not
    const fdr = new TabularDrift(world.reference, { pVal: 0.05, correction: 'fdr' }).decide(tests);
    // lines k * 0.05 / 11: 0.0045, 0.0091, 0.0136, 0.0182 -> 0.02 is above its line, so the first three drift
    expect(fdr.drifted).toEqual(['Pclass', 'Sex', 'Age']);
    for (const f of fdr.features) expect(f.drifted).toBe(f.pValue < f.threshold);
  });

  it('refuses a reference without one column and one type per feature, or holding NaN', () => {
    const { featureNames, featureTypes, columns } = world.reference;
    expect(() => new TabularDrift({ featureNames, featureTypes: featureTypes.slice(1), columns })).toThrow(
      /one column and one type per feature/,
    );
    const nan = columns.map((c, f) => (f === 2 ? [...c.slice(1), Number.NaN] : c));
    expect(() => new TabularDrift({ featureNames, featureTypes, columns: nan })).toThrow(/Age holds a value/);
    expect(() => new TabularDrift(world.reference).predict([[1, 2]])).toThrow(DriftInputError);
  });
});

describe('RequestDrift', () => {
  it("still flags the seed's demo passenger (Age 1000, Fare -500), naming the features out of range", () => {
    const detector = new RequestDrift(world.reference);
    const result = detector.predict([featurize(world.recipe, SEED_DEMO)]);
    expect(result.isDrift).toBe(true);
    expect(result.check).toBe('support');
    expect(result.drifted).toEqual(expect.arrayContaining(['Age', 'Fare']));
    expect(result.outOfSupport).toEqual(
      expect.arrayContaining([
        { row: 0, feature: 'Age', value: 1000, reason: 'above-range' },
        { row: 0, feature: 'Fare', value: -500, reason: 'below-range' },
      ]),
    );
  });

  it('flags at most 1% of single in-distribution passengers: the held-out passengers of 30 splits', () => {
    let flagged = 0;
    let total = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const w = driftWorldOf(world.passengers, seed);
      const detector = new RequestDrift(w.reference);
      for (const i of w.heldOut) {
        total++;
        if (detector.predict([w.features[i]!]).isDrift) flagged++;
      }
    }
    expect(total).toBe(30 * 179);
    expect(flagged / total).toBeLessThanOrEqual(0.01);
  });

  it('does not flag a lone passenger for being in a rare category, but does flag a category never seen', () => {
    const detector = new RequestDrift(world.reference);
    const title = nameIndex('Title');
    const embarked = nameIndex('Embarked');
    const rare = world.features.find((r) => r[title] === 4 && r[embarked] === 1);
    expect(rare).toBeDefined();
    expect(detector.predict([rare!]).isDrift).toBe(false);
    const unseen = [...rare!];
    unseen[embarked] = 9;
    expect(detector.predict([unseen])).toMatchObject({
      isDrift: true,
      drifted: ['Embarked'],
      outOfSupport: [{ row: 0, feature: 'Embarked', value: 9, reason: 'unseen-category' }],
    });
  });

  it('widens the range by a tenth, and by at least one for a count (a feature of whole numbers)', () => {
    const reference = {
      featureNames: ['Count', 'Measure'],
      featureTypes: ['continuous', 'continuous'] as const,
      columns: [
        [1, 2, 3, 4],
        [0.5, 1.5, 2.5, 3.5],
      ],
    };
    const detector = new RequestDrift(reference);
    expect(detector.predict([[5, 3.8]]).isDrift).toBe(false); // 4 + 1; 3.5 + 0.3
    expect(detector.predict([[5.5, 1]]).drifted).toEqual(['Count']);
    expect(detector.predict([[2, 3.9]]).drifted).toEqual(['Measure']);
    expect(detector.predict([[-0.5, 0.3]]).drifted).toEqual(['Count']); // 1 - 1; 0.5 - 0.3 = 0.2 < 0.3
  });

  it('tests requests of minTestRows rows or more as a batch, and flags a shifted batch', () => {
    const detector = new RequestDrift(world.reference);
    const stream = sampler(world, createRng(3));
    const normal = Array.from({ length: 60 }, () => stream.normal());
    const shifted = Array.from({ length: 60 }, () => stream.shifted('fare*3'));
    expect(detector.predict(normal.slice(0, 29)).check).toBe('support');
    expect(detector.predict(normal)).toMatchObject({ check: 'support+tests', isDrift: false });
    const result = detector.predict(shifted);
    expect(result.isDrift).toBe(true);
    expect(result.drifted).toContain('Fare');
  });
});

describe('WindowDrift', () => {
  it('sets the level of each evaluation from the target ERT: alpha = evaluateEvery / ert', () => {
    const window = new WindowDrift(world.reference, { evaluateEvery: 10, ert: 1_000_000 });
    expect(window.alpha).toBe(1e-5);
    expect(window.tests.threshold).toBeCloseTo(1e-5 / 11, 20);
    expect(() => new WindowDrift(world.reference, { evaluateEvery: 10, ert: 5 })).toThrow(/ert must exceed/);
  });

  it('evaluates as soon as the window is full, then every evaluateEvery requests', () => {
    const window = new WindowDrift(world.reference, { windowSize: 50, evaluateEvery: 10 });
    const stream = sampler(world, createRng(1));
    const evaluatedAt: number[] = [];
    for (let i = 1; i <= 80; i++) if (window.add([stream.normal()]) !== null) evaluatedAt.push(i);
    expect(evaluatedAt).toEqual([50, 60, 70, 80]);
    expect(window.state()).toMatchObject({
      windowRows: 50,
      rowsSeen: 80,
      requestsSeen: 80,
      requestsUntilEvaluation: 10,
    });
  });

  it('reports the same p-values as TabularDrift on the window, with distances and histograms', () => {
    const window = new WindowDrift(world.reference, { windowSize: 100, evaluateEvery: 7 });
    const stream = sampler(world, createRng(2));
    const rows = Array.from({ length: 107 }, () => stream.normal());
    for (const row of rows) window.add([row]);
    const last = window.state().last!;
    expect(last.requestsSeen).toBe(107);
    const direct = new TabularDrift(world.reference, { pVal: window.alpha, ksMethod: 'auto' }).predict(rows.slice(7));
    expect(last.pValues).toEqual(direct.pValues);
    expect(last.statistics).toEqual(direct.statistics);
    for (const f of last.detail) {
      expect(f.distance.kind).toBe(f.type === 'continuous' ? 'jensen-shannon' : 'l-infinity');
      expect(f.distance.value).toBeGreaterThanOrEqual(0);
      expect(f.distance.value).toBeLessThan(0.2);
      expect(f.histogram.current.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });

  it('gives, at every evaluation, the figures TabularDrift gives on the window: ties, NaN, infinities, unseen categories', () => {
    const stream = sampler(world, createRng(12));
    const rng = createRng(13);
    const age = nameIndex('Age');
    const title = nameIndex('Title');
    const odd = (row: number[]): number[] => {
      const out = [...row];
      const f = rng.int(out.length);
      const pick = rng.int(6);
      // a NaN, an infinity, a category (or value) the reference never saw, a negative zero, a reference value
      out[f] = [Number.NaN, Number.POSITIVE_INFINITY, 99.5, -0, world.reference.columns[f]![0]!, -1e9][pick]!;
      if (pick === 5) out[age] = out[age]! + 0.5; // between two reference values
      return out;
    };
    const referenceRows = world.reference.columns[0]!.length;
    for (const windowSize of [50, 200, referenceRows + 3]) {
      const window = new WindowDrift(world.reference, { windowSize, evaluateEvery: 7, rowsPerRequest: 2, seed: 3 });
      const direct = new TabularDrift(world.reference, { pVal: window.alpha, ksMethod: 'auto' });
      let evaluations = 0;
      let irregular = 0;
      for (let i = 0; i < windowSize + 400; i++) {
        const phase = Math.floor(i / 60) % 4;
        const rows =
          phase === 0
            ? [stream.normal()]
            : phase === 1
              ? [stream.shifted('embarked-Q'), stream.normal(), stream.shifted('age+25')]
              : phase === 2
                ? [odd(stream.normal())]
                : [stream.normal().map((v, f) => (f === title ? 4 : v))];
        if (phase === 2) irregular++;
        const e = window.add(rows);
        if (e === null) continue;
        evaluations++;
        const last = window.state().last!;
        const expected = direct.predict(window.contents());
        expect(last.statistics).toEqual(expected.statistics);
        expect(last.pValues).toEqual(expected.pValues);
        expect({ isDrift: e.isDrift, drifted: e.drifted }).toEqual({
          isDrift: expected.isDrift,
          drifted: expected.drifted,
        });
      }
      expect(evaluations).toBeGreaterThan(50);
      expect(irregular).toBeGreaterThan(50);
    }
  });

  it('raises at most one alert in 100,000 in-distribution requests (four streams of 25,000)', () => {
    let alerts = 0;
    for (let s = 0; s < 4; s++) {
      const window = new WindowDrift(world.reference, { seed: s });
      const stream = sampler(world, createRng(100 + s));
      for (let i = 0; i < 25_000; i++) if (window.add([stream.normal()])?.transition === 'entered') alerts++;
    }
    expect(alerts).toBeLessThanOrEqual(1);
  });

  it('detects each of the four shifts within 200 requests at the median and 300 at worst (15 trials each)', () => {
    for (const shift of SHIFTS) {
      const delays: number[] = [];
      for (let t = 0; t < 15; t++) {
        const rng = createRng(500 + t);
        const window = new WindowDrift(world.reference, { seed: t });
        const stream = sampler(world, rng);
        for (let i = 0; i < 300 + rng.int(10); i++) window.add([stream.normal()]);
        expect(window.state().isDrift).toBe(false);
        let delay = 0;
        while (!window.state().isDrift && delay < 1000) {
          window.add([stream.shifted(shift)]);
          delay++;
        }
        delays.push(delay);
      }
      delays.sort((a, b) => a - b);
      expect({ shift, median: delays[7]! <= 200, worst: delays[14]! <= 300 }).toEqual({
        shift,
        median: true,
        worst: true,
      });
    }
  });

  it('lets one request put at most rowsPerRequest rows in the window: 1,000 identical passengers raise no alert', () => {
    const window = new WindowDrift(world.reference);
    const stream = sampler(world, createRng(4));
    // An empty window: the flood alone fills 5 of 200 slots and is never evaluated.
    const oddOne = world.features.find((r) => r[nameIndex('Title')] === 4 && r[nameIndex('Pclass')] === 1)!;
    const flood = Array.from({ length: 1000 }, () => oddOne);
    expect(window.add(flood)).toBeNull();
    expect(window.state()).toMatchObject({ windowRows: 5, rowsSeen: 5, requestsSeen: 1 });
    // A full in-distribution window, then floods of the same passenger between ordinary requests.
    const transitions: string[] = [];
    for (let i = 0; i < 400; i++) {
      const e = window.add([stream.normal()]);
      if (e?.transition) transitions.push(e.transition);
      if (i % 100 === 50) {
        const f = window.add(flood);
        if (f?.transition) transitions.push(f.transition);
      }
    }
    expect(transitions).toEqual([]);
    expect(window.state().isDrift).toBe(false);
  });

  it('still detects a shift hidden among floods of normal-looking rows', () => {
    const window = new WindowDrift(world.reference);
    const stream = sampler(world, createRng(5));
    for (let i = 0; i < 250; i++) window.add([stream.normal()]);
    const normalFlood = Array.from({ length: 1000 }, () => stream.normal());
    let shifted = 0;
    while (!window.state().isDrift && shifted < 1000) {
      window.add([stream.shifted('embarked-Q')]);
      window.add(normalFlood);
      shifted++;
    }
    // Each flood adds 5 normal rows: the window sees a 1-in-6 share of shifted rows, which is still enough.
    expect(shifted).toBeLessThan(300);
  });

  it("reports 'entered' when drift starts and 'cleared' once the window is clean again", () => {
    const window = new WindowDrift(world.reference);
    const stream = sampler(world, createRng(6));
    const transitions: Array<[string, number]> = [];
    const feed = (n: number, next: () => number[]) => {
      for (let i = 0; i < n; i++) {
        const e = window.add([next()]);
        if (e?.transition) transitions.push([e.transition, e.requestsSeen]);
      }
    };
    feed(300, () => stream.normal());
    feed(200, () => stream.shifted('old-rich-first-class'));
    feed(400, () => stream.normal());
    expect(transitions.map((t) => t[0])).toEqual(['entered', 'cleared']);
    expect(transitions[0]![1]).toBeGreaterThan(300);
    expect(transitions[1]![1]).toBeGreaterThan(500);
  });

  it('picks the rows of a large request uniformly at random, each at most once', () => {
    const age = nameIndex('Age');
    const request = Array.from({ length: 20 }, (_, k) => world.features[0]!.map((v, f) => (f === age ? k : v)));
    const window = new WindowDrift(world.reference, { windowSize: 5, rowsPerRequest: 5, seed: 9 });
    const picked = new Array<number>(20).fill(0);
    for (let i = 0; i < 2000; i++) {
      window.add(request);
      const ages = window.contents().map((row) => row[age]!);
      expect(new Set(ages).size).toBe(5);
      for (const k of ages) picked[k]!++;
    }
    // Each row is picked with probability 5/20: 500 of 2000 times, sd 19.4; a biased picker lands outside 400-600.
    for (const count of picked) expect(count).toBeGreaterThan(400);
    for (const count of picked) expect(count).toBeLessThan(600);
    expect(window.state().rowsSeen).toBe(10_000);
  });
});

describe('recipe v2 features', () => {
  it('tests whatever features the reference lists, by their declared type: 15 features of recipe v2', async () => {
    const v2 = await loadDriftWorld(42, 2);
    expect(v2.reference.featureNames).toHaveLength(15);
    const window = new WindowDrift(v2.reference);
    const types = Object.fromEntries(window.tests.featureNames.map((n, f) => [n, window.tests.featureTypes[f]]));
    expect(types).toMatchObject({
      Deck: 'categorical',
      TicketSize: 'continuous',
      FarePerPerson: 'continuous',
      GroupWcOutcome: 'categorical',
    });
    // Held-out passengers one by one: at most 1% flagged.
    const detector = new RequestDrift(v2.reference);
    const flagged = v2.heldOut.filter((i) => detector.predict([v2.features[i]!]).isDrift).length;
    expect(flagged / v2.heldOut.length).toBeLessThanOrEqual(0.01);
    // In distribution the window stays quiet; everyone embarking at Queenstown is found within 200 requests.
    const stream = sampler(v2, createRng(8));
    let alerts = 0;
    for (let i = 0; i < 10_000; i++) if (window.add([stream.normal()])?.transition === 'entered') alerts++;
    expect(alerts).toBe(0);
    let delay = 0;
    while (!window.state().isDrift && delay < 1000) {
      window.add([stream.shifted('embarked-Q')]);
      delay++;
    }
    expect(delay).toBeLessThanOrEqual(200);
    const last = window.state().last!;
    expect(last.detail.find((f) => f.name === 'Deck')).toMatchObject({
      test: 'chi2',
      distance: { kind: 'l-infinity' },
    });
  });
});
