/**
 * The draw report from the file store, read-only and without the central's
 * lock (a central may be running): winners from `<bets>.winners`, whose
 * presence means the draw happened (it is renamed into place whole); bets
 * per agency from `<bets>.journal`, the record of every write, read entry by
 * entry up to the first that does not check out (a torn tail being written).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { journalPathOf, winnersPathOf } from '../storage/file/file-host.js';
import { decodeHeader, ENTRY_BYTES, EntryKind, HEADER_BYTES, readEntry } from '../storage/file/journal-format.js';
import { readAllWinners } from '../storage/file/winners-file.js';
import { buildReport, NoDrawYet, ReportError, type DrawReport } from './draw-report.js';

export function readFileReport(betsFile: string): DrawReport {
  const journalPath = journalPathOf(betsFile);
  const winnersPath = winnersPathOf(betsFile);
  if (!existsSync(betsFile) && !existsSync(journalPath)) {
    throw new NoDrawYet(`no lottery at ${betsFile}: neither it nor ${journalPath} exists (check SERVER_BETS_FILE / --bets-file)`);
  }
  const winners = readAllWinners(winnersPath);
  if (!winners)
    throw new NoDrawYet(`no draw yet at ${betsFile}: ${winnersPath} does not exist (the draw runs once every expected agency is done)`);
  const drawnAt = statSync(winnersPath).mtime;
  const counts = new Map<number, number>();
  for (const [agency, documents] of winners) counts.set(agency, documents.length);
  return buildReport('file', betsFile, drawnAt, betsPerAgency(journalPath), counts);
}

function betsPerAgency(journalPath: string): Map<number, number> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(journalPath);
  } catch (error) {
    throw new ReportError(`cannot read ${journalPath}: ${(error as Error).message}`);
  }
  const header = decodeHeader(bytes);
  if (typeof header === 'string') throw new ReportError(`${journalPath} is not a lottery journal: ${header}`);
  const bets = new Map<number, number>();
  for (let at = HEADER_BYTES; at + ENTRY_BYTES <= bytes.length; at += ENTRY_BYTES) {
    const entry = readEntry(bytes, at);
    if (!entry) break;
    if (entry.kind === EntryKind.Stored) bets.set(entry.agency, (bets.get(entry.agency) ?? 0) + entry.bets);
    else if (!bets.has(entry.agency)) bets.set(entry.agency, 0);
  }
  return bets;
}
