import { LOCK } from './shared-state.js';

const FREE = 0;
const HELD = 1;

/**
 * Runs `fn` holding the bets-file mutex. Only worker threads call this (it may
 * block in Atomics.wait, which the main thread must never do). Holders only
 * append a few kB, so waits are short; the timeout bounds a lost wake-up.
 */
export function withLock<T>(slots: Int32Array, fn: () => T): T {
  while (Atomics.compareExchange(slots, LOCK, FREE, HELD) !== FREE) {
    // Sleep only while the slot still reads HELD: if the holder released it
    // between our compareExchange and this call, wait returns at once.
    Atomics.wait(slots, LOCK, HELD, 50);
  }
  try {
    return fn();
  } finally {
    Atomics.store(slots, LOCK, FREE);
    Atomics.notify(slots, LOCK, 1);
  }
}
