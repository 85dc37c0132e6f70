/**
 * The coordinator runs the draw exactly once: in the worker of the agency
 * whose Done completes the expected set, or at start-up when a restart finds
 * every agency finished but no result on disk.
 */
import type { Logger } from '../common/logger.js';
import { findWinners } from './draw.js';
import { withLock } from './mutex.js';
import { DrawState, type SharedState } from './shared-state.js';
import { writeWinners } from './storage/sidecars.js';

/**
 * Closes intake, reads the stored bets, writes the result durably, logs
 * `sorteo`, and only then opens the barrier, so that no agency can see an
 * answer before the log line. `fromWorker` is false on the main thread, which
 * must not block on the mutex (no worker exists then anyway).
 */
export function runDraw(betsFile: string, state: SharedState, logger: Logger, fromWorker: boolean): void {
  state.setDrawState(DrawState.Running);
  try {
    // Appends check the draw state under the lock: once we held it, none can follow.
    if (fromWorker) withLock(state.slots, () => undefined);
    const winners = findWinners(betsFile);
    writeWinners(betsFile, winners);
    let total = 0;
    for (const documents of winners.values()) total += documents.length;
    logger.info('sorteo', 'success', { agencies: state.finishedCount(), winners: total });
    state.setDrawState(DrawState.Done);
  } catch (error) {
    logger.error('sorteo', 'fail', { error: (error as Error).message });
    state.setDrawState(DrawState.Failed);
  }
}
