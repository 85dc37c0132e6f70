/**
 * The database store as a worker's session sees it: a BetStore whose every
 * call becomes a message to the accepting thread (PgStoreHost), which holds
 * the connections and commits the batches of all sessions together. A
 * ticket is durable once its transaction committed (synchronous_commit on).
 */
import type { MessagePort } from 'node:worker_threads';
import {
  StoreBusy,
  StoreUnavailable,
  type AgencyLedger,
  type BetStore,
  type FinishOutcome,
  type RecordWriter,
  type Ticket,
} from '../store.js';
import { CopyRowWriter } from './copy-rows.js';
import type { StoreFailure, StoreReply, StoreRequest } from './messages.js';

interface Waiter {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class PgWorkerStore implements BetStore {
  readonly #roster: ReadonlySet<number>;
  #nextId = 1;
  #nextTicket = 1;
  #committed = 0;
  /** The first ticket that will never commit, and why. */
  #lost: { from: number; error: Error } | null = null;
  readonly #requests = new Map<number, Waiter>();
  readonly #tickets = new Map<number, Waiter>();

  constructor(
    private readonly port: MessagePort,
    roster: readonly number[],
  ) {
    this.#roster = new Set(roster);
    port.on('message', (reply: StoreReply) => this.#onReply(reply));
  }

  expects(agency: number): boolean {
    return this.#roster.has(agency);
  }

  ledger(agency: number): Promise<AgencyLedger> {
    return this.#ask({ op: 'ledger', id: this.#nextId++, agency }) as Promise<AgencyLedger>;
  }

  recordWriter(agency: number): RecordWriter {
    return new CopyRowWriter(agency);
  }

  /** `rows`: binary COPY rows (CopyRowWriter). */
  append(agency: number, rows: Uint8Array, bets: number, position: number): Ticket {
    // A copy of its own: the caller reuses its buffer, and this one is transferred away.
    const own = new Uint8Array(rows);
    return this.#send({ op: 'append', ticket: this.#nextTicket, agency, rows: own, bets, position }, [own.buffer]);
  }

  settle(agency: number, position: number): Ticket {
    return this.#send({ op: 'settle', ticket: this.#nextTicket, agency, position });
  }

  durable(ticket: Ticket): Promise<void> {
    if (ticket <= this.#committed) return Promise.resolve();
    if (this.#lost && ticket >= this.#lost.from) return Promise.reject(this.#lost.error);
    return new Promise((resolve, reject) => this.#tickets.set(ticket, { resolve: () => resolve(), reject }));
  }

  finish(agency: number, total: number): Promise<FinishOutcome> {
    return this.#ask({ op: 'finish', id: this.#nextId++, agency, total }) as Promise<FinishOutcome>;
  }

  winners(agency: number): Promise<readonly string[]> {
    return this.#ask({ op: 'winners', id: this.#nextId++, agency }) as Promise<readonly string[]>;
  }

  /** The accepting thread owns everything in flight. */
  quiesce(): Promise<void> {
    return Promise.resolve();
  }

  #send(request: StoreRequest & { ticket: number }, transfer?: ArrayBuffer[]): Ticket {
    if (this.#lost) throw this.#lost.error;
    this.#nextTicket++;
    this.port.postMessage(request, transfer);
    return request.ticket;
  }

  #ask(request: StoreRequest & { id: number }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#requests.set(request.id, { resolve, reject });
      this.port.postMessage(request);
    });
  }

  #onReply(reply: StoreReply): void {
    switch (reply.op) {
      case 'reply':
      case 'refused': {
        const waiter = this.#requests.get(reply.id);
        this.#requests.delete(reply.id);
        if (reply.op === 'reply') waiter?.resolve(reply.value);
        else waiter?.reject(failureError(reply.failure, reply.message));
        return;
      }
      case 'committed':
        this.#committed = reply.through;
        for (const [ticket, waiter] of this.#tickets) {
          if (ticket > reply.through) continue;
          this.#tickets.delete(ticket);
          waiter.resolve(undefined);
        }
        return;
      case 'lost': {
        const error = failureError(reply.failure, reply.message);
        if (!this.#lost || reply.from < this.#lost.from) this.#lost = { from: reply.from, error };
        for (const [ticket, waiter] of this.#tickets) {
          if (ticket < reply.from) continue;
          this.#tickets.delete(ticket);
          waiter.reject(error);
        }
      }
    }
  }
}

function failureError(failure: StoreFailure, message: string): Error {
  return failure === 'busy' ? new StoreBusy(message) : new StoreUnavailable(message);
}
