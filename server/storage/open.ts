/**
 * Which store: the database when SERVER_DATABASE_URL is set, else the
 * embedded file store. The accepting thread opens the host; each worker
 * builds its BetStore from what the host gave it (the database's code is
 * loaded only where it is used).
 */
import type { Logger } from '../../common/logger.js';
import type { SharedCounters } from '../counters.js';
import type { Roster } from '../roster.js';
import type { FaultPlan } from './file/io.js';
import type { BetStore, FatalStorageError, StoreHost, WorkerStoreInit } from './store.js';

export interface StoreOptions {
  readonly databaseUrl: string | null;
  readonly betsFile: string;
  readonly durable: boolean;
  readonly roster: Roster;
  readonly logger: Logger;
  readonly fault: FaultPlan | null;
  readonly databaseTimeoutMs: number;
  readonly onFatal: (failure: FatalStorageError) => void;
  /** Commit latencies (and, for the file store, the bets recovered) are counted here. */
  readonly counters: SharedCounters;
}

export async function openStore(options: StoreOptions): Promise<StoreHost> {
  if (options.databaseUrl) {
    const { PgStoreHost } = await import('./postgres/pg-host.js');
    return PgStoreHost.open({
      url: options.databaseUrl,
      roster: options.roster,
      logger: options.logger,
      queryTimeoutMs: options.databaseTimeoutMs,
      counters: options.counters,
    });
  }
  const { FileStoreHost } = await import('./file/file-host.js');
  return FileStoreHost.open(options);
}

export async function workerStore(
  init: WorkerStoreInit,
  threadId: number,
  logger: Logger,
  onFatal: (failure: FatalStorageError) => void,
): Promise<BetStore> {
  if (init.backend === 'postgres') {
    const { PgWorkerStore } = await import('./postgres/pg-store.js');
    return new PgWorkerStore(init.port, init.roster);
  }
  const { workerFileStore } = await import('./file/file-host.js');
  return workerFileStore(init, threadId, logger, onFatal);
}

/** Loads a worker's store code ahead of its connection (a pre-started worker waits for one). */
export async function preloadWorkerStore(backend: WorkerStoreInit['backend']): Promise<void> {
  if (backend === 'postgres') await import('./postgres/pg-store.js');
  else await import('./file/file-host.js');
}
