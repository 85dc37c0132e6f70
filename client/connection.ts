/**
 * The agency's end of a TCP (or TLS) connection: whole frames out (waiting
 * for 'drain' when the socket's buffer is full), decoded server messages in.
 */
import { connect, isIP, type Socket } from 'node:net';
import { opensslReason, TLS_MIN_VERSION, type TlsMaterial } from '../common/tls-files.js';
import { decodeMessage, FrameDecoder, ProtocolError, SERVER_FRAME_LIMITS, type ServerMessage } from '../protocol/index.js';

/** The connection dropped or the server broke the protocol. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

/**
 * TLS refused the connection: the central's certificate does not verify
 * (another CA, expired, not for this host name), the central refused ours,
 * or one side does not speak TLS. Configuration, not bad luck: trying again
 * cannot help, so the agency stops.
 */
export class TlsError extends Error {
  override readonly name = 'TlsError';
}

/** Error codes of node:tls and OpenSSL's certificate checks (see the tls docs' list of X509 codes). */
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|ERR_OSSL_)/;
const X509_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'OUT_OF_MEM',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/** The TLS failure behind a socket error, or null for a network failure (refused, reset, timed out: worth retrying). */
function tlsFailure(error: NodeJS.ErrnoException): TlsError | null {
  const code = error.code ?? '';
  if (!TLS_CODE.test(code) && !X509_CODES.has(code)) return null;
  const reason = opensslReason(error.message);
  return new TlsError(`TLS: ${reason} (${code})${hint(code)}`);
}

function hint(code: string): string {
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return '; does the central speak TLS?';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return "; the central's certificate is not for the name connected to";
  if (X509_CODES.has(code)) return "; the central's certificate does not verify with CLI_TLS_CA";
  if (code.includes('ALERT'))
    return '; the central refused this connection (is CLI_TLS_CERT signed by its CA, valid, and for this agency?)';
  return '';
}

export class Connection {
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
  readonly #inbox: ServerMessage[] = [];
  #waiter: { resolve: (m: ServerMessage) => void; reject: (e: Error) => void } | null = null;
  #failure: Error | null = null;
  /** Armed while the agency waits on the central (a reply, a drain); any byte from the central restarts it. */
  #silence: NodeJS.Timeout | undefined;
  #waits = 0;

  private constructor(
    socket: Socket,
    private readonly replyTimeoutMs: number,
  ) {
    this.#socket = socket;
    // A central whose machine dies sends no FIN, and one whose network vanished with it never resets what we still send.
    // Waiting at the barrier is patient, not timed: keep-alive probes find a central that is gone meanwhile.
    socket.setKeepAlive(true, Math.min(replyTimeoutMs, 10_000));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => {
      try {
        this.#decoder.end();
        this.#fail(new ConnectionError('the central closed the connection'));
      } catch (error) {
        // Cut inside a frame: the connection broke; reconnecting and resuming is safe.
        this.#fail(new ConnectionError(`the connection was cut inside a frame: ${(error as Error).message}`));
      }
    });
    socket.on('close', () => this.#fail(new ConnectionError('connection closed')));
    // Under TLS 1.3 the central checks our certificate after our side of the handshake is done: its refusal arrives here, as an alert.
    socket.on('error', (error) => this.#fail(tlsFailure(error) ?? new ConnectionError(`connection error: ${error.message}`)));
  }

  /**
   * Opens a connection; rejects with the socket error (ECONNREFUSED, ENOTFOUND, timeout...),
   * or a TlsError. With `tls`, the central's certificate must chain to `tls.ca` and name `host`.
   */
  static async open(host: string, port: number, tls: TlsMaterial | null, replyTimeoutMs: number, timeoutMs = 10_000): Promise<Connection> {
    // node:tls is loaded only when used: a plain agency saves its start-up.
    const tlsModule = tls ? await import('node:tls') : null;
    return new Promise((resolve, reject) => {
      const socket =
        tls && tlsModule
          ? tlsModule.connect({
              host,
              port,
              ca: tls.ca ?? undefined,
              cert: tls.cert ?? undefined,
              key: tls.key ?? undefined,
              minVersion: TLS_MIN_VERSION,
              // SNI carries host names only; the default checkServerIdentity checks `host` (a name or an IP) against the certificate.
              servername: isIP(host) ? undefined : host,
            })
          : connect({ host, port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
      const onError = (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(tlsFailure(error) ?? error);
      };
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new Connection(socket, replyTimeoutMs));
      });
      socket.once('error', onError);
    });
  }

  /** Writes one or more whole frames; waits when the socket's buffer is full. */
  async send(frame: Buffer): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (!this.#socket.write(frame)) {
      await this.#timed(
        new Promise<void>((resolve, reject) => {
          const onDrain = () => {
            this.#socket.off('close', onClose);
            resolve();
          };
          const onClose = () => {
            this.#socket.off('drain', onDrain);
            reject(this.#failure ?? new ConnectionError('connection closed'));
          };
          this.#socket.once('drain', onDrain);
          this.#socket.once('close', onClose);
        }),
      );
    }
  }

  /**
   * The next message from the central. A reply it owes must come within the
   * reply timeout of silence; `patient` waits without limit (the barrier,
   * where the central is silent until the draw).
   */
  next(patient = false): Promise<ServerMessage> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#failure) return Promise.reject(this.#failure);
    const reply = new Promise<ServerMessage>((resolve, reject) => (this.#waiter = { resolve, reject }));
    return patient ? reply : this.#timed(reply);
  }

  close(): void {
    clearTimeout(this.#silence);
    this.#socket.destroy();
  }

  async #timed<T>(wait: Promise<T>): Promise<T> {
    if (this.#waits++ === 0) this.#silence = setTimeout(() => this.#presumeGone(), this.replyTimeoutMs);
    try {
      return await wait;
    } finally {
      if (--this.#waits === 0) clearTimeout(this.#silence);
    }
  }

  #presumeGone(): void {
    this.#fail(new ConnectionError(`the central sent nothing for ${this.replyTimeoutMs} ms while a reply was due; presumed gone`));
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#silence?.refresh();
    try {
      for (const frame of this.#decoder.push(chunk)) this.#deliver(decodeMessage(frame) as ServerMessage);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#fail(new ConnectionError(`the central sent malformed data: ${error.codeName}: ${error.message}`));
      this.#socket.destroy();
    }
  }

  #deliver(message: ServerMessage): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve(message);
    } else {
      this.#inbox.push(message);
    }
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(error);
  }
}
