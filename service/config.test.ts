import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors.ts';
import { parseServiceConfig } from './config.ts';

const LOCAL = { MODELS_BUCKET: 'models', LOCAL_MODE: 'true' };

describe('service configuration', () => {
  it('applies the documented defaults', () => {
    const c = parseServiceConfig(LOCAL);
    expect(c).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      modelsBucket: 'models',
      modelPollSeconds: 30,
      maxBatch: 1000,
      driftWindow: 200,
      driftEvery: 10,
      driftErt: 1_000_000,
      driftRowsPerRequest: 5,
      driftCorrection: 'bonferroni',
      driftAlertsTopic: 'drift-alerts',
      localMode: true,
      push: undefined,
      redis: undefined,
      predictRoute: undefined,
      healthRoute: undefined,
    });
  });

  it("listens on Vertex AI's AIP_HTTP_PORT when PORT is not set, and serves its routes", () => {
    const c = parseServiceConfig({
      ...LOCAL,
      AIP_HTTP_PORT: '7080',
      AIP_PREDICT_ROUTE: '/predict/v1',
      AIP_HEALTH_ROUTE: 'health',
    });
    expect(c.port).toBe(7080);
    expect(c.predictRoute).toBe('/predict/v1');
    expect(c.healthRoute).toBe('/health');
    expect(parseServiceConfig({ ...LOCAL, PORT: '9000', AIP_HTTP_PORT: '7080' }).port).toBe(9000);
  });

  it('requires the push audience and service account outside local mode', () => {
    expect(() => parseServiceConfig({ MODELS_BUCKET: 'm' })).toThrow(
      /PUSH_AUDIENCE is required; PUSH_SERVICE_ACCOUNT is required/,
    );
    const c = parseServiceConfig({ MODELS_BUCKET: 'm', PUSH_AUDIENCE: 'https://x', PUSH_SERVICE_ACCOUNT: 'a@b' });
    expect(c.push).toEqual({ audience: 'https://x', serviceAccount: 'a@b' });
  });

  it('reads the Redis settings the feature store needs', () => {
    const c = parseServiceConfig({
      ...LOCAL,
      REDIS_URL: 'rediss://10.0.0.3:6378',
      REDIS_PASSWORD: 'p',
      FEATURE_STORE_PREFIX: 'f',
    });
    expect(c.redis).toEqual({ url: 'rediss://10.0.0.3:6378', password: 'p', tlsCa: undefined, prefix: 'f', keep: 3 });
  });

  it('reports every bad variable at once in one ConfigError', () => {
    try {
      parseServiceConfig({ LOCAL_MODE: 'true', MAX_BATCH: '0', DRIFT_WINDOW: 'lots', PORT: '70000' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      for (const name of ['MODELS_BUCKET', 'MAX_BATCH', 'DRIFT_WINDOW', 'PORT']) expect(message).toContain(name);
    }
  });
});
