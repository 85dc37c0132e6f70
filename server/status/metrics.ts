/**
 * /metrics: the Prometheus text format, through prom-client. Every lottery
 * metric is read from the StatusBoard (and its shared counters) when scraped
 * (`collect`), so nothing on the hot path knows Prometheus exists. Names
 * follow `lottery_<what>_<unit>`, counters end in `_total`, labels have few
 * values (agency ids, error codes).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { errorCodeName } from '../../protocol/index.js';
import { COMMIT_BUCKETS } from '../counters.js';
import type { StatusBoard } from './board.js';

const COMMIT_NAME = 'lottery_commit_duration_seconds';
const COMMIT_HELP =
  'Group commits: the fdatasync of bets.csv and its journal (file store), or one transaction from BEGIN to COMMIT (PostgreSQL)';

export class Metrics {
  readonly #registry = new Registry();

  constructor(private readonly board: StatusBoard) {
    const registers = [this.#registry];
    const { counters } = board;
    // process_resident_memory_bytes, nodejs_heap_size_used_bytes, event loop lag, GC…: the whole process, workers included for RSS.
    collectDefaultMetrics({ register: this.#registry });

    new Counter({
      name: 'lottery_bets_stored_total',
      help: 'Bets stored durably, per agency (file store: what bets.csv holds, recovered bets included; PostgreSQL: what this central committed since it started)',
      labelNames: ['agency'],
      registers,
      collect() {
        this.reset();
        for (const agency of board.agencies()) this.inc({ agency: String(agency) }, counters.storedBets(agency));
      },
    });
    new Counter({
      name: 'lottery_batches_total',
      help: 'Bet batches answered since the central started: stored (acknowledged once durable), or rejected with an error code',
      labelNames: ['result', 'code'],
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'stored', code: 'none' }, counters.batchesStored());
        for (const [code, n] of counters.batchesRefused()) this.inc({ result: 'rejected', code: errorCodeName(code) }, n);
      },
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('lottery_connections_open', 'Connections open on the agency port', () => board.connections());
    gauge('lottery_agencies_connected', 'Agencies with a session on a connection now', () => board.connectedAgencies().length);
    gauge('lottery_agencies_expected', 'Agencies the draw waits for (the roster)', () => board.roster.length);
    gauge('lottery_agencies_finished', 'Roster agencies whose Done is stored durably', () => board.finishedCount);
    gauge('lottery_ready', '1 once the store is recovered and the agency port is listening, 0 before and once shutdown began', () =>
      board.ready ? 1 : 0,
    );
    gauge('lottery_draw_state', 'The barrier: 0 waiting for agencies, 1 drawing, 2 drawn', () => board.drawState());
    gauge(
      'lottery_draw_duration_seconds',
      "The draw's storage part (sync, scan, result stored) when it ran here; 0 before",
      () => board.drawSeconds ?? 0,
    );
    new Gauge({
      name: 'lottery_winners',
      help: 'Winners per agency (0 included), once the draw is known here; absent before',
      labelNames: ['agency'],
      registers,
      collect() {
        this.reset();
        const { winners } = board;
        if (winners) for (const agency of board.agencies()) this.set({ agency: String(agency) }, winners.get(agency) ?? 0);
      },
    });
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  async text(): Promise<string> {
    return `${await this.#registry.metrics()}\n${this.#commitHistogram()}`;
  }

  /**
   * The commit-latency histogram. Its buckets are counted in shared memory by
   * whichever thread commits, and prom-client's Histogram keeps its buckets
   * in its own object with no way to set them, so this one metric is written
   * here, in the same text format.
   */
  #commitHistogram(): string {
    const { cumulative, sumSeconds, count } = this.board.counters.commitHistogram();
    const lines = [`# HELP ${COMMIT_NAME} ${COMMIT_HELP}`, `# TYPE ${COMMIT_NAME} histogram`];
    COMMIT_BUCKETS.forEach((bound, i) => lines.push(`${COMMIT_NAME}_bucket{le="${bound}"} ${cumulative[i]}`));
    lines.push(`${COMMIT_NAME}_bucket{le="+Inf"} ${cumulative[COMMIT_BUCKETS.length]}`);
    lines.push(`${COMMIT_NAME}_sum ${sumSeconds}`, `${COMMIT_NAME}_count ${count}`);
    return `${lines.join('\n')}\n`;
  }
}
