/**
 * The coordinator, on the accepting thread: it counts roster agencies as
 * their Done becomes durable and runs the draw exactly once, when the last
 * one has (or at start-up, when a restart finds every agency finished but no
 * result). The draw's storage part is the store's (StoreHost.draw: make the
 * bets durable, find the winners, store the result durably, once); then the
 * coordinator logs `sorteo`, and only then opens the barrier, so that no
 * agency sees an answer before the log line. Being on the accepting thread,
 * it never dies with a connection.
 *
 * A result that cannot be stored (a full disk, a database away) is retried
 * every second while agencies wait at the barrier; a failed sync fail-stops
 * the central instead (the store's policy). With several centrals on one
 * database, the first to complete the roster draws; the others learn of it
 * (a notification, and a poll every second as a safety net) and open their
 * barrier without logging `sorteo` again.
 */
import type { Logger } from '../common/logger.js';
import { DrawState, type CentralState } from './central-state.js';
import type { Roster } from './roster.js';
import { StoreFailed, type StoreHost } from './storage/store.js';

const RETRY_MS = 1000;
const POLL_MS = 1000;

/** What the coordinator tells the status endpoint. */
export interface DrawEvents {
  /** Roster agencies recorded as finished, now (-1 when the store could not say). */
  finished(agency: number, finished: number): void;
  /** The draw's winners per agency (counts); `seconds`: how long its storage part took here (null: it ran before, or elsewhere). */
  drawn(winners: ReadonlyMap<number, number>, seconds: number | null): void;
}

const noEvents: DrawEvents = { finished: () => undefined, drawn: () => undefined };

const winnerCounts = (winners: ReadonlyMap<number, readonly string[]>) =>
  new Map([...winners].map(([agency, documents]) => [agency, documents.length]));

export class Coordinator {
  #drawing: Promise<void> | null = null;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(
    private readonly store: StoreHost,
    private readonly central: CentralState,
    private readonly roster: Roster,
    private readonly logger: Logger,
    private readonly events: DrawEvents = noEvents,
  ) {
    store.onDrawnElsewhere(() => void this.#check());
  }

  /**
   * At start-up: a draw that already happened is reused (and announced, if a
   * crash came between its result and its `sorteo` line); otherwise a draw
   * whose agencies all finished before a crash runs now. Then a poll keeps
   * watching, for a draw made by another central.
   */
  async resume(): Promise<void> {
    const stored = await this.store.storedResult();
    if (stored) {
      this.events.drawn(winnerCounts(stored.winners), null);
      this.central.setDrawState(DrawState.Done);
      if (stored.announced) this.logger.info('draw_reused', 'success', { detail: 'the draw already ran; its result is reused' });
      else await this.#announce(stored.winners, true);
      return;
    }
    await this.drawIfComplete();
    this.#poll();
  }

  /** A session recorded the agency's Done durably. */
  async agencyFinished(agency: number): Promise<void> {
    const finished = await this.store.finishedCount().catch(() => -1);
    this.logger.info('agency_finished', 'success', { agency, finished, expected: this.roster.length });
    this.events.finished(agency, finished);
    await this.drawIfComplete(finished);
  }

  /** Starts the draw once every roster agency has finished (no-op otherwise, or when it runs or ran). */
  async drawIfComplete(finished?: number): Promise<void> {
    if (this.#drawing || this.#stopped || this.roster.length === 0 || this.central.drawState() !== DrawState.Open) return;
    const count = finished ?? (await this.store.finishedCount().catch(() => -1));
    if (count < this.roster.length || this.#drawing || this.central.drawState() !== DrawState.Open) return;
    this.#drawing = this.#draw();
  }

  /** Shutdown: a draw still retrying gives up (a restart runs it again); resolves once no attempt is in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#drawing;
  }

  /** While the barrier is closed: has someone drawn, or has the roster completed unseen (a central that died)? */
  #poll(): void {
    if (this.#stopped || this.roster.length === 0 || this.central.drawState() === DrawState.Done) return;
    this.#timer = setTimeout(() => {
      void this.#check().finally(() => this.#poll());
    }, POLL_MS);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    if (this.#stopped || this.#drawing || this.central.drawState() === DrawState.Done) return;
    const stored = await this.store.storedResult().catch(() => null);
    if (stored) return this.#drawnElsewhere();
    await this.drawIfComplete();
  }

  #drawnElsewhere(): void {
    if (this.central.drawState() === DrawState.Done) return;
    this.logger.info('draw_reused', 'success', { detail: 'another central ran the draw; its result is answered' });
    this.central.setDrawState(DrawState.Done);
    // For the status page only: a result that cannot be read now is simply not shown.
    void this.store.storedResult().then(
      (stored) => stored && this.events.drawn(winnerCounts(stored.winners), null),
      () => undefined,
    );
  }

  async #draw(): Promise<void> {
    this.central.setDrawState(DrawState.Running);
    for (let attempt = 1; !this.#stopped; attempt++) {
      let outcome: Map<number, string[]> | 'elsewhere';
      const started = performance.now();
      try {
        outcome = await this.store.draw();
      } catch (error) {
        if (error instanceof StoreFailed) return; // the central is stopping
        this.logger.warning('draw_result', 'in_progress', { attempt, error: (error as Error).message, retry_in: `${RETRY_MS}ms` });
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, RETRY_MS);
        });
        continue;
      }
      if (outcome === 'elsewhere') this.#drawnElsewhere();
      else {
        const seconds = (performance.now() - started) / 1000;
        await this.#announce(outcome, false);
        this.events.drawn(winnerCounts(outcome), seconds);
        this.central.setDrawState(DrawState.Done);
      }
      return;
    }
  }

  /** The `sorteo` line, then its durable note (see StoreHost.markAnnounced). */
  async #announce(winners: ReadonlyMap<number, readonly string[]>, afterRestart: boolean): Promise<void> {
    let total = 0;
    for (const documents of winners.values()) total += documents.length;
    this.logger.info('sorteo', 'success', {
      agencies: this.roster.length,
      winners: total,
      ...(afterRestart ? { detail: 'the result was stored before a restart; announced now' } : {}),
    });
    const failed = await this.store.markAnnounced();
    if (failed) this.logger.warning('draw_result', 'fail', { error: failed, detail: 'a restart will log sorteo again' });
  }
}
