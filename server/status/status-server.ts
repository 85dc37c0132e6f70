/**
 * The status port (SERVER_STATUS_PORT): a read-only HTTP server, node:http
 * only, on the accepting thread.
 *
 *   GET /          the live page          GET /page.js   its script
 *   GET /events    Server-Sent Events: a StatusSnapshot (JSON) on connect,
 *                  then every 500 ms when something changed (at least every 2 s)
 *   GET /metrics   Prometheus text (metrics.ts)
 *   GET /healthz   200 while the process runs
 *   GET /readyz    200 once the store is recovered and the agency port
 *                  listens; 503 before, and once shutdown began
 *
 * HEAD works wherever GET does; any other method is 405. Closing never waits
 * for a client: event streams are ended and idle connections dropped.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StatusBoard } from './board.js';
import { Metrics } from './metrics.js';
import { PAGE_HTML, PAGE_SCRIPT } from './page.js';

const TICK_MS = 500;
/** An unchanged snapshot is still sent this often, so the page's rates fall to zero and a dead stream shows. */
const REFRESH_MS = 2000;
/** The longest close() waits for connections to go before it stops waiting. */
const CLOSE_WAIT_MS = 1000;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  // The page loads its own script and styles, talks only to this origin, and cannot be framed.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
};

export class StatusServer {
  readonly #server: Server;
  readonly #metrics: Metrics;
  readonly #streams = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | undefined;
  #lastSent = '';
  #lastSentMs = 0;

  constructor(private readonly board: StatusBoard) {
    this.#metrics = new Metrics(board);
    this.#server = createServer((request, response) => void this.#route(request, response));
    // An HTTP client that opens a connection and says nothing is not allowed to hold it long.
    this.#server.requestTimeout = 10_000;
    this.#server.headersTimeout = 5_000;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  /** Ends every event stream and stops; resolves within CLOSE_WAIT_MS whatever the clients do. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      return send(response, 405, 'text/plain; charset=utf-8', `${method} is not allowed: the status port is read-only\n`, {
        allow: 'GET, HEAD',
      });
    }
    const head = method === 'HEAD';
    const path = new URL(request.url ?? '/', 'http://status').pathname;
    switch (path) {
      case '/':
        return send(response, 200, 'text/html; charset=utf-8', PAGE_HTML, {}, head);
      case '/page.js':
        return send(response, 200, 'text/javascript; charset=utf-8', PAGE_SCRIPT, {}, head);
      case '/healthz':
        return send(response, 200, 'text/plain; charset=utf-8', 'ok\n', {}, head);
      case '/readyz': {
        const { phase } = this.board;
        return send(response, this.board.ready ? 200 : 503, 'text/plain; charset=utf-8', `${phase}\n`, {}, head);
      }
      case '/metrics': {
        let text: string;
        try {
          text = await this.#metrics.text();
        } catch (error) {
          return send(response, 500, 'text/plain; charset=utf-8', `metrics failed: ${(error as Error).message}\n`);
        }
        return send(response, 200, this.#metrics.contentType, text, {}, head);
      }
      case '/events':
        return this.#openStream(response, head);
      default:
        return send(response, 404, 'text/plain; charset=utf-8', `no ${path} here; try /, /metrics, /healthz, /readyz\n`, {}, head);
    }
  }

  #openStream(response: ServerResponse, head: boolean): void {
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    if (head) return void response.end();
    // A browser reconnects after this long when the stream drops.
    response.write(`retry: 2000\n\n`);
    response.write(this.#event(JSON.stringify(this.board.snapshot())));
    this.#streams.add(response);
    response.on('close', () => {
      this.#streams.delete(response);
      if (this.#streams.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    });
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS).unref();
  }

  #tick(): void {
    const snapshot = this.board.snapshot();
    const { atMs, ...content } = snapshot;
    const key = JSON.stringify(content);
    if (key === this.#lastSent && atMs - this.#lastSentMs < REFRESH_MS) return;
    this.#lastSent = key;
    this.#lastSentMs = atMs;
    const event = this.#event(JSON.stringify(snapshot));
    for (const stream of this.#streams) stream.write(event);
  }

  #event(data: string): string {
    return `data: ${data}\n\n`;
  }
}

function send(
  response: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
  head = false,
): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
  });
  response.end(head ? undefined : body);
}
