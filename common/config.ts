/**
 * Pieces both CLIs use to build their typed config. Precedence is always
 * default < config file < environment < command-line flag; every value is
 * validated once, and a bad one becomes a ConfigError naming the key.
 */
import { parseDuration } from './duration.js';
import { isLevel, type Level } from './logger.js';

/** A setting is missing or wrong. Exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly exitCode = 2;
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${key}: ${problem}`);
  }
}

/** One raw value and where it came from, before validation. */
export interface Raw {
  readonly key: string;
  readonly value: string;
}

/** The highest-precedence defined value among candidates listed lowest first. */
export function pick(...candidates: ReadonlyArray<Raw | undefined>): Raw | undefined {
  let chosen: Raw | undefined;
  for (const candidate of candidates) if (candidate !== undefined && candidate.value !== undefined) chosen = candidate;
  return chosen;
}

/** A candidate from a source, or undefined when the source does not set it. */
export function from(key: string, value: unknown): Raw | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new ConfigError(key, 'must be a single value, not a section or list');
  }
  return { key, value: String(value) };
}

export function toInt(raw: Raw, min: number, max: number): number {
  const text = raw.value.trim();
  if (!/^[+-]?\d+$/.test(text)) throw new ConfigError(raw.key, `must be an integer, got ${JSON.stringify(raw.value)}`);
  const value = Number(text);
  if (value < min || value > max) throw new ConfigError(raw.key, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

export function toLevel(raw: Raw): Level {
  const value = raw.value.trim().toUpperCase();
  if (!isLevel(value))
    throw new ConfigError(raw.key, `must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got ${JSON.stringify(raw.value)}`);
  return value;
}

export function toDurationMs(raw: Raw): number {
  try {
    return parseDuration(raw.value);
  } catch (error) {
    throw new ConfigError(raw.key, (error as Error).message);
  }
}

export function toBool(raw: Raw): boolean {
  const value = raw.value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(raw.key, `must be true or false, got ${JSON.stringify(raw.value)}`);
}

export function toText(raw: Raw): string {
  const value = raw.value.trim();
  if (value === '') throw new ConfigError(raw.key, 'must not be empty');
  return value;
}

/** Non-empty environment value, or undefined. */
export function env(name: string): Raw | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : { key: name, value };
}
