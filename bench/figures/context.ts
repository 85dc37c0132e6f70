/**
 * What the figures share: the inputs, generated once by the runner, and the
 * measurements one figure makes and a later one reports (figure 6 reads the
 * peak RSS of figures 1 and 4; figure 2 starts from figure 3's durable run).
 */
import type { AgencyInput } from '../lib/data.js';
import type { LoadgenRun } from '../lib/loadgen.js';
import { fmt } from '../lib/report.js';
import { sizes } from '../lib/settings.js';

export interface Context {
  readonly e2e: readonly AgencyInput[];
  readonly cap: readonly AgencyInput[];
  readonly many: readonly AgencyInput[];
  readonly reference: readonly AgencyInput[] | null;
  e2ePeakRss: number | null;
  refPeakRss: number | null;
  capDurable: LoadgenRun | null;
}

export const e2eLabel = (ctx: Context) => `${ctx.e2e.length} agencies × ${fmt.n(sizes.e2eBets)} bets`;
export const capLabel = (ctx: Context) => `${ctx.cap.length} agencies × ${fmt.n(sizes.capBets)} pre-encoded bets`;
