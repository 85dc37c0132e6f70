/**
 * Between a worker's PgWorkerStore and the accepting thread's PgStoreHost,
 * over a MessagePort of their own: the worker asks, the accepting thread (the
 * only one with database connections) answers. Tickets are numbered per
 * worker and committed in order, so one `committed` message covers every
 * ticket up to it.
 */
import type { AgencyLedger, FinishOutcome } from '../store.js';

export type StoreRequest =
  | { readonly op: 'ledger'; readonly id: number; readonly agency: number }
  | {
      readonly op: 'append';
      readonly ticket: number;
      readonly agency: number;
      /** Binary COPY rows (copy-rows.ts). */
      readonly rows: Uint8Array;
      readonly bets: number;
      readonly position: number;
    }
  | { readonly op: 'settle'; readonly ticket: number; readonly agency: number; readonly position: number }
  | { readonly op: 'finish'; readonly id: number; readonly agency: number; readonly total: number }
  | { readonly op: 'winners'; readonly id: number; readonly agency: number };

/** Why a request or a ticket failed: which store error the worker throws. */
export type StoreFailure = 'busy' | 'unavailable';

export type StoreReply =
  | { readonly op: 'reply'; readonly id: number; readonly value: AgencyLedger | FinishOutcome | readonly string[] }
  | { readonly op: 'refused'; readonly id: number; readonly failure: StoreFailure; readonly message: string }
  /** Every ticket up to `through` is committed. */
  | { readonly op: 'committed'; readonly through: number }
  /** Every ticket from `from` on will never be committed. */
  | { readonly op: 'lost'; readonly from: number; readonly failure: StoreFailure; readonly message: string };
