/**
 * The request path counts in plain numbers and prom-client is handed the figures when it is read: the exposition
 * must be what the per-request prom-client calls made before (the reference below), line for line: values, the
 * histogram's sum as the same double, series in the order they appeared, resets.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createRng } from '../shared/core/rng.ts';
import { createMetrics, type ServiceMetrics } from './metrics.ts';

const FAMILIES = [
  'prediction_count_total',
  'drift_count_total',
  'prediction_latency_seconds',
  'predictions_by_outcome_total',
] as const;

const helpOf = (metric: unknown): string => (metric as { help: string }).help;

/** The same families fed as the scorer and the routes fed them before: one prom-client call per count. */
function reference(fast: ServiceMetrics) {
  const registry = new Registry();
  const registers = [registry];
  const predictions = new Counter({ name: FAMILIES[0], help: helpOf(fast.predictions), registers });
  const drift = new Counter({ name: FAMILIES[1], help: helpOf(fast.drift), registers });
  const latency = new Histogram({
    name: FAMILIES[2],
    help: helpOf(fast.latency),
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const outcomes = new Counter({ name: FAMILIES[3], help: helpOf(fast.outcomes), labelNames: ['outcome'], registers });
  return {
    registry,
    score(n: number, survived: number, isDrift: boolean) {
      predictions.inc(n);
      if (survived > 0) outcomes.inc({ outcome: 'survived' }, survived);
      if (n - survived > 0) outcomes.inc({ outcome: 'died' }, n - survived);
      if (isDrift) drift.inc();
    },
    observe(route: string, seconds: number) {
      latency.labels({ route }).observe(seconds);
    },
  };
}

async function exposition(registry: Registry): Promise<string> {
  const texts = await Promise.all(FAMILIES.map((name) => registry.getSingleMetricAsString(name)));
  return texts.join('\n');
}

describe('request metrics counted in plain numbers', () => {
  it('expose what per-request prom-client calls exposed, over random requests, scrapes and resets', async () => {
    const random = createRng(5).next;
    const bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
    const seconds = (): number => {
      const r = random();
      if (r < 0.6) return random() * 0.003;
      if (r < 0.75) return bounds[Math.floor(random() * bounds.length)]!;
      if (r < 0.85) return 1 + random() * 3; // above every bucket: the +Inf count only
      if (r < 0.9) return 0;
      return random() * 0.6;
    };
    let scrapes = 0;
    for (let run = 0; run < 40; run++) {
      const fast = createMetrics({ current: () => null, defaultMetrics: false });
      const ref = reference(fast);
      const routes = ['api', 'explain', 'form'].sort(() => random() - 0.5);
      for (let step = 0; step < 150; step++) {
        const r = random();
        if (r < 0.55) {
          const n = random() < 0.9 ? 1 : 1 + Math.floor(random() * 1000);
          const survived = random() < 0.5 ? 0 : random() < 0.5 ? n : Math.floor(random() * (n + 1));
          const isDrift = random() < 0.2;
          fast.countScored(n, survived, isDrift);
          ref.score(n, survived, isDrift);
        } else if (r < 0.85) {
          const route = random() < 0.7 ? routes[0]! : routes[1 + Math.floor(random() * 2)]!;
          const v = seconds();
          fast.latencyOf(route).observe(v);
          ref.observe(route, v);
        } else if (r < 0.99) {
          expect(await exposition(fast.registry)).toBe(await exposition(ref.registry));
          scrapes++;
        } else {
          fast.registry.resetMetrics();
          ref.registry.resetMetrics();
        }
      }
      const last = await exposition(fast.registry);
      expect(last).toBe(await exposition(ref.registry));
      // what the service registers, in the order /metrics lists it
      expect(
        fast.registry
          .getMetricsAsArray()
          .map((m) => m.name)
          .slice(0, 4),
      ).toEqual([...FAMILIES]);
    }
    expect(scrapes).toBeGreaterThan(500);
  });

  it('refuse a latency that is not a finite number, as prom-client does', () => {
    const fast = createMetrics({ current: () => null, defaultMetrics: false });
    const ref = new Histogram({ name: 'h', help: 'h', labelNames: ['route'], registers: [] });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      let message = '';
      try {
        ref.labels({ route: 'api' }).observe(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).not.toBe('');
      expect(() => fast.latencyOf('api').observe(bad)).toThrow(new TypeError(message));
    }
  });
});
