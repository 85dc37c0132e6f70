/**
 * The status endpoint's view of the central, on the accepting thread: what
 * the Central and its Coordinator tell it (the phase, agencies finished, the
 * draw's result) plus what it reads when asked (connections, the draw's
 * state, the shared counters). `snapshot()` is what the live page shows;
 * the metrics read the same board.
 */
import { DrawState } from '../central-state.js';
import type { SharedCounters } from '../counters.js';

/** recovering: the store is being opened (not ready); ready: recovered and listening; stopping: shutdown began. */
export type CentralPhase = 'recovering' | 'ready' | 'stopping';

/** What the board reads from the central when asked. */
export interface LiveSource {
  /** Connections open on the agency port. */
  connections(): number;
  /** Agencies with a session on a connection now. */
  connectedAgencies(): readonly number[];
  /** DrawState (central-state.ts). */
  drawState(): number;
}

export interface AgencyStatus {
  readonly agency: number;
  readonly expected: boolean;
  readonly connected: boolean;
  readonly finished: boolean;
  /** Bets stored durably. */
  readonly stored: number;
  /** Winners, once the draw is known here; null before. */
  readonly winners: number | null;
}

export type BarrierState = 'no_draw' | 'waiting' | 'drawing' | 'drawn';

/** The live page's data (sent as JSON over Server-Sent Events). */
export interface StatusSnapshot {
  readonly phase: CentralPhase;
  readonly ready: boolean;
  readonly expected: number;
  readonly connected: number;
  readonly finished: number;
  readonly connections: number;
  readonly barrier: BarrierState;
  /** Roster agencies not finished yet (0 once drawn). */
  readonly waitingFor: number;
  readonly storedTotal: number;
  readonly winnersTotal: number | null;
  readonly drawSeconds: number | null;
  readonly agencies: readonly AgencyStatus[];
  /** When the snapshot was taken (ms since the epoch): the page computes rates from two of them. */
  readonly atMs: number;
}

export class StatusBoard {
  phase: CentralPhase = 'recovering';
  /** Roster agencies recorded as finished (the store's count). */
  finishedCount = 0;
  /** Agencies whose Done this central recorded since it started. */
  readonly finishedAgencies = new Set<number>();
  /** Winners per agency, once the draw's result is known here. */
  winners: ReadonlyMap<number, number> | null = null;
  /** How long the draw's storage part took, when it ran in this process. */
  drawSeconds: number | null = null;
  readonly #rosterSet: ReadonlySet<number>;

  constructor(
    readonly roster: readonly number[],
    readonly counters: SharedCounters,
    private readonly live: LiveSource,
  ) {
    this.#rosterSet = new Set(roster);
  }

  get ready(): boolean {
    return this.phase === 'ready';
  }

  connections(): number {
    return this.live.connections();
  }

  connectedAgencies(): readonly number[] {
    return this.live.connectedAgencies();
  }

  drawState(): number {
    return this.live.drawState();
  }

  agencyFinished(agency: number, finished: number): void {
    this.finishedAgencies.add(agency);
    if (finished >= 0) this.finishedCount = finished;
  }

  drawn(winners: ReadonlyMap<number, number>, seconds: number | null): void {
    this.winners = winners;
    if (seconds !== null) this.drawSeconds = seconds;
    // A draw means every roster agency finished, whether or not this process saw it.
    this.finishedCount = this.roster.length;
  }

  barrier(): BarrierState {
    if (this.roster.length === 0) return 'no_draw';
    const draw = this.live.drawState();
    if (draw === DrawState.Done) return 'drawn';
    if (draw === DrawState.Running) return 'drawing';
    return 'waiting';
  }

  /** Every agency worth a row: the roster, and any other that stored bets or is connected. */
  agencies(): number[] {
    const ids = new Set(this.roster);
    for (const agency of this.counters.agenciesWithBets()) ids.add(agency);
    for (const agency of this.live.connectedAgencies()) ids.add(agency);
    return [...ids].sort((a, b) => a - b);
  }

  snapshot(): StatusSnapshot {
    const connected = new Set(this.live.connectedAgencies());
    const barrier = this.barrier();
    const drawn = barrier === 'drawn';
    const winners = this.winners;
    let storedTotal = 0;
    const agencies = this.agencies().map((agency): AgencyStatus => {
      const stored = this.counters.storedBets(agency);
      storedTotal += stored;
      const expected = this.#rosterSet.has(agency);
      return {
        agency,
        expected,
        connected: connected.has(agency),
        finished: this.finishedAgencies.has(agency) || (drawn && expected),
        stored,
        winners: winners ? (winners.get(agency) ?? 0) : null,
      };
    });
    let winnersTotal: number | null = null;
    if (winners) {
      winnersTotal = 0;
      for (const n of winners.values()) winnersTotal += n;
    }
    return {
      phase: this.phase,
      ready: this.ready,
      expected: this.roster.length,
      connected: connected.size,
      finished: this.finishedCount,
      connections: this.live.connections(),
      barrier,
      waitingFor: drawn ? 0 : Math.max(0, this.roster.length - this.finishedCount),
      storedTotal,
      winnersTotal,
      drawSeconds: this.drawSeconds,
      agencies,
      atMs: Date.now(),
    };
  }
}
