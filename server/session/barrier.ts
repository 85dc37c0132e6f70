/**
 * The session's end: Done (its total must be what the store holds durably;
 * the store records it durably, then the coordinator counts it), and the
 * winners request, parked at the barrier until the draw is done, then
 * answered with this agency's winners only.
 *
 * The barrier parks without blocking the thread (Atomics.waitAsync, in
 * slices), so a hang-up or a SIGTERM still releases it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeWinnersPages, ErrorCode, type Done } from '../../protocol/index.js';
import { DRAW_STATE, DrawState } from '../central-state.js';
import type { SessionCore } from './core.js';

/** How long a parked winners request sleeps before re-checking for shutdown or hang-up. */
const WAIT_SLICE_MS = 250;

export class Barrier {
  #aborted = false;

  constructor(private readonly core: SessionCore) {}

  /** The peer is gone or the central stops: leave any wait at once. */
  abort(): void {
    this.#aborted = true;
  }

  async done(done: Done): Promise<void> {
    const { core } = this;
    if (core.unwelcomed) return core.fail(ErrorCode.UnexpectedMessage, 'done before a completed hello');
    if (core.phase !== 'betting') return core.fail(ErrorCode.UnexpectedMessage, 'second done');
    let outcome;
    try {
      outcome = await core.deps.store.finish(core.agency, done.total);
    } catch (error) {
      return core.storeError(error);
    }
    if (core.closed) return;
    if (!outcome.ok)
      return core.fail(ErrorCode.CountMismatch, `agency says it sent ${done.total} bets, the central holds ${outcome.stored}`);
    core.phase = 'finished';
    core.deps.finished(core.agency);
  }

  async winners(): Promise<void> {
    const { core } = this;
    if (core.unwelcomed) return core.fail(ErrorCode.UnexpectedMessage, 'winners request before a completed hello');
    if (core.phase === 'betting') return core.fail(ErrorCode.UnexpectedMessage, 'winners request before done');
    if (core.phase !== 'finished') return core.fail(ErrorCode.UnexpectedMessage, 'second winners request');
    if (!core.deps.drawConfigured) return core.fail(ErrorCode.UnexpectedMessage, 'no draw is configured (SERVER_AGENCIES=0)');
    core.phase = 'waiting';
    const outcome = await this.#awaitDraw();
    if (outcome === 'aborted') return;
    if (outcome === 'shutdown') return core.goodbye('the central is shutting down before the draw');
    const documents = await core.deps.store.winners(core.agency);
    if (core.closed) return;
    core.deps.logger.info('winners_sent', 'success', { agency: core.agency, winners: documents.length });
    for (const page of encodeWinnersPages([...documents])) core.deps.send(page);
    core.phase = 'answered';
  }

  async #awaitDraw(): Promise<'done' | 'shutdown' | 'aborted'> {
    const { central } = this.core.deps;
    for (;;) {
      const draw = central.drawState();
      if (draw === DrawState.Done) return 'done';
      if (central.isShuttingDown()) return 'shutdown';
      if (this.#aborted) return 'aborted';
      // Waits only while the slot still holds the value just read, so a draw
      // finishing in between is never missed; shutdown notifies this slot too.
      const waiting = Atomics.waitAsync(central.slots, DRAW_STATE, draw, WAIT_SLICE_MS);
      // The timer is a second guarantee that the slice ends, whatever happens to the waiter.
      if (waiting.async) await Promise.race([waiting.value, sleep(WAIT_SLICE_MS, undefined, { ref: false })]);
    }
  }
}
