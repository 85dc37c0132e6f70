/**
 * Error codes travel on the wire (Error and BatchRejected frames) as u16, so
 * their numbers are part of the protocol and never change meaning.
 */
export const ErrorCode = {
  // Malformed bytes: the stream cannot be trusted any more; the connection closes.
  UnknownType: 1,
  FrameTooLarge: 2,
  Truncated: 3,
  InvalidUtf8: 4,
  OutOfRange: 5,
  TrailingBytes: 6,
  // Well-formed but not acceptable in this session.
  UnexpectedMessage: 20,
  UnsupportedVersion: 21,
  BadSequence: 22,
  InvalidBet: 23,
  AgencyBusy: 24,
  AuthFailed: 25,
  DrawClosed: 26,
  CountMismatch: 27,
  ShuttingDown: 28,
  IdleTimeout: 29,
  TooManyConnections: 30,
  StorageFailure: 31,
  /** The central cannot store right now (a failed write, a full disk); nothing of the batch was kept: reconnect and resume later. */
  StorageUnavailable: 32,
  /** The agency is not on the central's roster. */
  NotExpected: 33,
  /** A batch's file position goes backwards or cannot hold its bets. */
  BadPosition: 34,
  /** Mutual TLS: the Hello's agency is not the one the client certificate names (subject CN agency-<id>). */
  CertificateMismatch: 35,
  /** Mutual TLS: the client certificate does not verify (none, another CA, expired); sent once, over TLS, before the central hangs up. */
  CertificateRefused: 36,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const NAMES = new Map<number, string>(
  Object.entries(ErrorCode).map(([name, code]) => [
    code,
    `ERR_${name.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c).toUpperCase()}`,
  ]),
);

/** Stable symbolic name of a code, e.g. 3 → "ERR_TRUNCATED"; unknown codes → "ERR_CODE_<n>". */
export function errorCodeName(code: number): string {
  return NAMES.get(code) ?? `ERR_CODE_${code}`;
}

/** The peer sent bytes that do not follow the protocol. Fatal for the connection. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }

  /** Symbolic code for logs and tests, e.g. "ERR_FRAME_TOO_LARGE". */
  get codeName(): string {
    return errorCodeName(this.code);
  }
}
