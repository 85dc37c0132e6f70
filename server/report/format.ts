/**
 * The report's three shapes: a table for people (with a totals row), CSV for
 * spreadsheets (one row per agency, no totals row, so that it loads as is),
 * JSON for programs (the whole DrawReport).
 */
import type { DrawReport } from './draw-report.js';

export const REPORT_FORMATS = ['table', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function formatReport(report: DrawReport, format: ReportFormat): string {
  switch (format) {
    case 'table':
      return table(report);
    case 'csv':
      return csv(report);
    case 'json':
      return JSON.stringify(report, null, 2) + '\n';
  }
}

function csv(report: DrawReport): string {
  let text = 'agency,bets,winners\n';
  for (const line of report.agencies) text += `${line.agency},${line.bets},${line.winners}\n`;
  return text;
}

function table(report: DrawReport): string {
  const rows = [
    ['agency', 'bets', 'winners'],
    ...report.agencies.map((line) => [String(line.agency), String(line.bets), String(line.winners)]),
    ['total', String(report.total.bets), String(report.total.winners)],
  ];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column].length)));
  const render = (row: readonly string[]) => row.map((cell, column) => cell.padStart(widths[column])).join('  ') + '\n';
  const rule = widths.map((width) => '-'.repeat(width)).join('  ') + '\n';
  const body = rows.slice(1, -1).map(render).join('');
  return `Draw of ${report.drawnAt} (${report.store} store: ${report.where})\n\n${render(rows[0])}${rule}${body}${rule}${render(rows[rows.length - 1])}`;
}
