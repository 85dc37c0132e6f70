/**
 * The coordinator, on the accepting thread: it counts roster agencies as
 * their Done becomes durable and runs the draw exactly once, when the last
 * one has (or at start-up, when a restart finds every agency finished but no
 * result on disk). The draw closes intake, makes every write durable, scans
 * bets.csv and writes the result durably (the store's part), logs `sorteo`,
 * and only then opens the barrier, so that no agency sees an answer before
 * the log line. Being on the accepting thread, it never dies with a
 * connection. A result that cannot be written (a full disk) is retried every
 * second while agencies wait at the barrier; a failed sync fail-stops the
 * central instead (the store's policy).
 */
import type { Logger } from '../common/logger.js';
import { DrawState, type CentralState } from './central-state.js';
import type { Roster } from './roster.js';
import type { FileStoreHost } from './storage/file/file-host.js';
import { StoreFailed } from './storage/store.js';

const RETRY_MS = 1000;

export class Coordinator {
  #drawing: Promise<void> | null = null;
  #stopped = false;
  #wakeRetry: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(
    private readonly store: FileStoreHost,
    private readonly central: CentralState,
    private readonly roster: Roster,
    private readonly logger: Logger,
  ) {}

  /**
   * At start-up: a draw that already happened is reused (and announced, if a
   * crash came between its result and its `sorteo` line); otherwise a draw
   * whose agencies all finished before a crash runs now.
   */
  resume(): void {
    const stored = this.store.storedResult();
    if (!stored) return this.drawIfComplete();
    this.central.setDrawState(DrawState.Done);
    if (stored.announced) {
      this.logger.info('draw_reused', 'success', { detail: 'the draw already ran; its result is reused' });
    } else {
      this.#announce(stored.winners, true);
    }
  }

  /** A session recorded the agency's Done durably. */
  agencyFinished(agency: number): void {
    const expected = this.roster.length;
    this.logger.info('agency_finished', 'success', { agency, finished: this.store.finishedCount(), expected });
    this.drawIfComplete();
  }

  /** Starts the draw once every roster agency has finished (no-op otherwise, or when it runs or ran). */
  drawIfComplete(): void {
    if (this.#drawing || this.#stopped || this.roster.length === 0) return;
    if (this.central.drawState() !== DrawState.Open || this.store.finishedCount() < this.roster.length) return;
    this.#drawing = this.#draw();
  }

  /** Shutdown: a draw still retrying gives up (a restart runs it again); resolves once no attempt is in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#wakeRetry);
    this.#wake?.();
    await this.#drawing;
  }

  async #draw(): Promise<void> {
    this.central.setDrawState(DrawState.Running);
    for (let attempt = 1; !this.#stopped; attempt++) {
      let winners: Map<number, string[]>;
      try {
        winners = await this.store.draw();
      } catch (error) {
        if (error instanceof StoreFailed) return; // the central is stopping
        this.logger.warning('draw_result', 'in_progress', { attempt, error: (error as Error).message, retry_in: `${RETRY_MS}ms` });
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#wakeRetry = setTimeout(resolve, RETRY_MS);
        });
        continue;
      }
      this.#announce(winners, false);
      this.central.setDrawState(DrawState.Done);
      return;
    }
  }

  /** The `sorteo` line, then its durable note (see winners-file.ts). */
  #announce(winners: ReadonlyMap<number, readonly string[]>, afterRestart: boolean): void {
    let total = 0;
    for (const documents of winners.values()) total += documents.length;
    this.logger.info('sorteo', 'success', {
      agencies: this.roster.length,
      winners: total,
      ...(afterRestart ? { detail: 'the result was stored before a restart; announced now' } : {}),
    });
    const failed = this.store.markAnnounced();
    if (failed) this.logger.warning('draw_result', 'fail', { error: failed, detail: 'a restart will log sorteo again' });
  }
}
