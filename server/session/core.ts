/**
 * What the phases of a session share: its dependencies, its phase, the
 * agency it speaks for, and the ways it ends. Each phase (handshake.ts,
 * ingest.ts, barrier.ts) works through one SessionCore; session.ts routes
 * messages to them.
 */
import type { Logger } from '../../common/logger.js';
import { encodeErrorReply, ErrorCode, errorCodeName, MessageType } from '../../protocol/index.js';
import type { CentralState } from '../central-state.js';
import type { SharedCounters } from '../counters.js';
import { StoreBusy, StoreFailed, StoreUnavailable, type BetStore } from '../storage/store.js';

export type Phase = 'greeting' | 'authenticating' | 'betting' | 'finished' | 'waiting' | 'answered' | 'closed';

export interface SessionDeps {
  readonly store: BetStore;
  readonly central: CentralState;
  /** What the status endpoint reports: bets and batches made durable, batches refused. */
  readonly counters: SharedCounters;
  readonly logger: Logger;
  /** A draw is configured (a roster): only roster agencies are admitted. */
  readonly drawConfigured: boolean;
  /** Agency secrets; null when the central runs unauthenticated. */
  readonly secrets: ReadonlyMap<number, string> | null;
  readonly peer: string;
  /** Under mutual TLS, the subject CN of the peer's verified certificate: it may speak only for that agency. */
  readonly certifiedName: string | null;
  /** Queues bytes for the socket. */
  send(bytes: Buffer): void;
  /** Called once when the session wants its connection closed. */
  close(): void;
  /** Announces the agency this session speaks for. */
  claimed(agency: number): void;
  /** The agency's Done is durable: the coordinator counts it. */
  finished(agency: number): void;
}

export class SessionCore {
  phase: Phase = 'greeting';
  /** The agency, once a Hello was accepted (0 before). */
  agency = 0;
  /** Runs before the session ends with an answer: batches that arrived before are still written. */
  beforeEnd: () => void = () => undefined;

  constructor(readonly deps: SessionDeps) {}

  get closed(): boolean {
    return this.phase === 'closed';
  }

  /** True until a Hello (and its Proof, with secrets) was accepted. */
  get unwelcomed(): boolean {
    return this.phase === 'greeting' || this.phase === 'authenticating';
  }

  /** Ends the session with an Error frame (connection-fatal) and a log line. */
  fail(code: ErrorCode, message: string, action = 'protocol_error'): void {
    if (this.closed) return;
    this.beforeEnd();
    if (this.closed) return;
    this.deps.logger.warning(action, 'fail', { agency: this.agency, ip: this.deps.peer, code: errorCodeName(code), error: message });
    this.deps.send(encodeErrorReply({ type: MessageType.Error, code, message }));
    this.close();
  }

  /** Ends the session because the central is stopping: not a failure, so logged as a normal close. */
  goodbye(reason: string): void {
    if (this.closed) return;
    this.beforeEnd();
    if (this.closed) return;
    this.deps.logger.info('session_closed', 'success', { agency: this.agency, ip: this.deps.peer, reason });
    this.deps.send(encodeErrorReply({ type: MessageType.Error, code: ErrorCode.ShuttingDown, message: reason }));
    this.close();
  }

  /** A store exception: the agency is told to come back (a failed write), or the central is stopping (`drop` what is owed). */
  storeError(error: unknown, drop: () => void = () => undefined): void {
    if (error instanceof StoreUnavailable) {
      this.fail(ErrorCode.StorageUnavailable, `${error.message}; reconnect and resume later`, 'storage_unavailable');
    } else if (error instanceof StoreBusy) {
      this.fail(ErrorCode.AgencyBusy, error.message);
    } else if (error instanceof StoreFailed) {
      drop();
      this.close();
    } else {
      throw error;
    }
  }

  close(): void {
    if (this.closed) return;
    this.phase = 'closed';
    this.deps.close();
  }
}
