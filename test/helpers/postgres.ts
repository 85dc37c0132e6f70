/**
 * A real PostgreSQL for a test (scripts/postgres-cluster.ts), stopped and
 * removed at the test's teardown.
 */
import type { Test } from 'tap';
import { PostgresCluster } from '../../scripts/postgres-cluster.js';

export { PG_BIN, PG_INSTALL, postgresUnavailable } from '../../scripts/postgres-cluster.js';

export type Postgres = PostgresCluster;

export const Postgres = {
  /** A fresh cluster with an empty database `lottery`, started; removed at teardown. */
  async start(t: Test): Promise<PostgresCluster> {
    const pg = await PostgresCluster.start();
    t.teardown(() => pg.dispose());
    return pg;
  },
};
