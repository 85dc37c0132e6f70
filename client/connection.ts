/**
 * The agency's end of a TCP connection: whole frames out (waiting for
 * 'drain' when the socket's buffer is full), decoded server messages in.
 */
import { connect, type Socket } from 'node:net';
import { decodeMessage, FrameDecoder, ProtocolError, SERVER_FRAME_LIMITS, type ServerMessage } from '../protocol/index.js';

/** The connection dropped or the server broke the protocol. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

export class Connection {
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
  readonly #inbox: ServerMessage[] = [];
  #waiter: { resolve: (m: ServerMessage) => void; reject: (e: Error) => void } | null = null;
  #failure: Error | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
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
    socket.on('error', (error) => this.#fail(new ConnectionError(`connection error: ${error.message}`)));
  }

  /** Opens a connection; rejects with the socket error (ECONNREFUSED, ENOTFOUND, timeout...). */
  static open(host: string, port: number, timeoutMs = 10_000): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(new Connection(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Writes one or more whole frames; waits when the socket's buffer is full. */
  async send(frame: Buffer): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (!this.#socket.write(frame)) {
      await new Promise<void>((resolve, reject) => {
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
      });
    }
  }

  /** The next message from the central. */
  next(): Promise<ServerMessage> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
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
