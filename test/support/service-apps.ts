/** For the service's test files: apps built here are closed after each test (kept apart from service.ts, which benches import). */
import { afterEach } from 'vitest';
import { buildTestApp, type TestApp } from './service.ts';

export function testAppsClosedAfterEach(): typeof buildTestApp {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.app.close()));
  });
  return async (...args) => {
    const t = await buildTestApp(...args);
    apps.push(t);
    return t;
  };
}
