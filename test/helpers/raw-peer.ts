/**
 * A raw TCP peer for the central: it writes whatever bytes a test hands it
 * (hostile or not) and reads the server's replies back as frames, with the
 * project's FrameDecoder and the limits a client applies. It also keeps every
 * received byte, so a test can compare an echo byte for byte.
 *
 * The frame builders below write bytes by hand with the independent Bytes
 * builder, never with the project's encoders: a hostile peer must be able to
 * say things our encoders refuse to.
 */
import { connect, createServer, type Socket } from 'node:net';
import type { Test } from 'tap';
import {
  CLIENT_FRAME_LIMITS,
  decodeMessage,
  FrameDecoder,
  MessageType,
  SERVER_FRAME_LIMITS,
  type ClientMessage,
  type Frame,
  type ServerMessage,
} from '../../protocol/index.js';
import { Bytes } from './bytes.js';

export interface RawBet {
  readonly first: string;
  readonly last: string;
  readonly document: string;
  readonly birthdate: string;
  readonly number: number;
}

/** How a batch was answered: by the (cumulative) BatchAck that covered it, or by its own BatchRejected. */
export type BatchAnswer = Extract<ServerMessage, { type: typeof MessageType.BatchAck | typeof MessageType.BatchRejected }>;

/** More bets than any frame holds: the default batch positions never collide. */
const MAX_BETS_PER_FRAME = 1000;

/** Hand-made client frames (see docs/protocol.md). */
export const frames = {
  hello(agency: number, opts: { version?: number; flags?: number } = {}): Buffer {
    return new Bytes()
      .u16(opts.version ?? 3) // version: 3 (cumulative acks)
      .u16(agency) // agency
      .u8(opts.flags ?? 0) // flags: bit 0 single bet
      .fill(16, 0xab) // nonce
      .frame(0x01);
  },
  /**
   * `position`: the agency file's record of the batch's last bet. The default
   * spaces batches MAX_BETS_PER_FRAME records apart, which suits a session
   * whose Welcome said `settled: 0`; a test that resumes passes its own.
   */
  betBatch(seq: number, bets: readonly RawBet[], position = (seq + 1) * MAX_BETS_PER_FRAME): Buffer {
    const b = new Bytes().u32(seq).u32(position).u16(bets.length);
    for (const bet of bets) {
      b.str8(bet.first).str8(bet.last).str8(bet.document).utf8(bet.birthdate).u16(bet.number);
    }
    return b.frame(0x03);
  },
  done(total: number): Buffer {
    return new Bytes().u32(total).frame(0x04);
  },
  winnersRequest(): Buffer {
    return new Bytes().frame(0x05);
  },
  echo(payload: Buffer | string): Buffer {
    return new Bytes().raw(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload).frame(0x0e);
  },
};

export interface ReceivedFrame extends Frame {
  /** The frame's bytes as they came, header included. */
  readonly bytes: Buffer;
}

/** One raw connection to a server. */
export class RawPeer {
  readonly socket: Socket;
  /** Resolves when the socket has fully closed. */
  readonly closed: Promise<void>;
  #received: Buffer[] = [];
  #frames: ReceivedFrame[] = [];
  #decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
  #decodeError: Error | null = null;
  #ended = false;
  #isClosed = false;
  #watchers = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on('error', () => undefined); // a reset is an outcome tests look at, not a crash
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#notify();
        resolve();
      }),
    );
  }

  /** Connects to 127.0.0.1:port. */
  static connect(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error(`connect to ${host}:${port} timed out`)), timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RawPeer(socket));
      });
    });
  }

  /** Connects and destroys the socket at teardown. */
  static async open(t: Test, port: number): Promise<RawPeer> {
    const peer = await RawPeer.connect(port);
    t.teardown(() => peer.destroy());
    return peer;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The server sent FIN (or the socket closed). */
  get ended(): boolean {
    return this.#ended || this.#isClosed;
  }

  /** Every byte received so far. */
  received(): Buffer {
    return Buffer.concat(this.#received);
  }

  /** Frames received so far (taken or not). */
  framesSoFar(): readonly ReceivedFrame[] {
    return this.#frames;
  }

  /** Writes bytes; resolves once they are handed to the kernel. */
  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  }

  /** Half-closes: sends FIN after `bytes`, keeps reading. */
  end(bytes?: Buffer): void {
    if (bytes) this.socket.end(bytes);
    else this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #taken = 0;

  /** The next frame not yet taken; rejects on timeout or if the connection ends first. */
  nextFrame(timeoutMs = 15_000): Promise<ReceivedFrame> {
    return this.#wait(() => (this.#taken < this.#frames.length ? this.#frames[this.#taken++] : undefined), 'a frame', timeoutMs, true);
  }

  /** The next frame, decoded as a server message. */
  async next(timeoutMs?: number): Promise<ServerMessage> {
    return decodeMessage(await this.nextFrame(timeoutMs)) as ServerMessage;
  }

  /**
   * Reads answers until batches `first`..`last` are all answered, under the
   * protocol's rule: answers come in order, a BatchRejected answers its own
   * batch, a BatchAck its own and every earlier one still unanswered. Returns
   * each batch's answer: the ack that covered it, or its rejection. Throws on
   * anything else (another message, a seq out of order or beyond `last`).
   */
  async answersThrough(last: number, first = 0): Promise<BatchAnswer[]> {
    const answers: BatchAnswer[] = [];
    while (first + answers.length <= last) {
      const reply = await this.next();
      const oldest = first + answers.length;
      if (reply.type === MessageType.BatchRejected && reply.seq === oldest) answers.push(reply);
      else if (reply.type === MessageType.BatchAck && reply.seq >= oldest && reply.seq <= last)
        while (first + answers.length <= reply.seq) answers.push(reply);
      else throw new Error(`batches ${oldest}..${last} unanswered: got ${JSON.stringify(reply)}`);
    }
    return answers;
  }

  /** Resolves once at least `n` bytes have arrived in total. */
  waitBytes(n: number, timeoutMs = 15_000): Promise<Buffer> {
    return this.#wait(
      () => {
        const all = this.received();
        return all.length >= n ? all : undefined;
      },
      `${n} bytes`,
      timeoutMs,
      true,
    );
  }

  /** Resolves when the connection has closed; rejects if it stays open longer than `timeoutMs`. */
  waitClosed(timeoutMs = 15_000): Promise<void> {
    return this.#wait(() => (this.#isClosed ? true : undefined), 'the close', timeoutMs, false).then(() => undefined);
  }

  /** Resolves when the server has sent FIN; rejects on timeout. */
  waitEnded(timeoutMs = 15_000): Promise<void> {
    return this.#wait(() => (this.ended ? true : undefined), 'the end of the stream', timeoutMs, false).then(() => undefined);
  }

  #wait<T>(probe: () => T | undefined, what: string, timeoutMs: number, failOnEnd: boolean): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = probe();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.#decodeError) {
          done();
          reject(this.#decodeError);
        } else if (failOnEnd && this.ended) {
          done();
          reject(new Error(`the connection ended before ${what} (received ${this.received().toString('hex')})`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms (received ${this.received().toString('hex').slice(0, 200)})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#watchers.delete(check);
      };
      this.#watchers.add(check);
      check();
    });
  }

  #onData(chunk: Buffer): void {
    this.#received.push(chunk);
    if (!this.#decodeError) {
      try {
        const before = this.#decoder.buffered;
        let offset = this.received().length - chunk.length - before;
        for (const frame of this.#decoder.push(chunk)) {
          const size = 5 + frame.body.length;
          const bytes = this.received().subarray(offset, offset + size);
          offset += size;
          this.#frames.push({ ...frame, bytes: Buffer.from(bytes) });
        }
        if (this.#decoder.failure) throw this.#decoder.failure;
      } catch (error) {
        this.#decodeError = error as Error;
      }
    }
    this.#notify();
  }

  #notify(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }
}

/** A fake central on 127.0.0.1 that answers each client message as a script says (null: no answer). */
export interface ScriptedCentral {
  readonly port: number;
  /** Every message received, in order, over all connections. */
  readonly received: ClientMessage[];
}

export async function scriptedCentral(t: Test, answer: (message: ClientMessage) => Buffer | null): Promise<ScriptedCentral> {
  const received: ClientMessage[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const message = decodeMessage(frame) as ClientMessage;
        received.push(message);
        const reply = answer(message);
        if (reply) socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, received };
}
