/**
 * Go-style durations, as the client's `loop.period` uses: "150ms", "5s",
 * "1m30s", "1.5h", "0". Returns milliseconds.
 */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

export function parseDuration(text: string): number {
  const value = text.trim();
  if (value === '0') return 0;
  if (value === '') throw new Error('empty duration');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < value.length) {
    const at = PART.lastIndex;
    const match = PART.exec(value);
    if (!match)
      throw new Error(`invalid duration ${JSON.stringify(text)} at ${JSON.stringify(value.slice(at))} (use e.g. 150ms, 5s, 1m30s)`);
    total += Number(match[1]) * UNIT_MS[match[2]];
  }
  return total;
}
