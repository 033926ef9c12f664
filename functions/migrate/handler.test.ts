import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../shared/adapters/db/migrations.ts';
import { createLogger } from '../../shared/log.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/pg.ts';
import { runMigrate } from './handler.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('migrate step', () => {
  const logger = createLogger({ minSeverity: 'ERROR' });

  it('applies every migration on an empty database, then nothing; without login secrets it sets no login', async () => {
    expect(await runMigrate({ pool: db.pool, logger })).toEqual({
      applied: MIGRATIONS.map((m) => m.version),
      logins: [],
    });
    expect(await runMigrate({ pool: db.pool, logger })).toEqual({ applied: [], logins: [] });
  });
  // Setting the logins (cluster-wide roles) is tested in shared/adapters/db/roles.test.ts, one file, so that no two
  // test files change the same roles at once.
});
