/**
 * The agency port over TLS. The main thread terminates TLS (a TLSSocket is a
 * net.Socket, so the byte pump in worker-link.ts is unchanged); workers only
 * ever see the plaintext. A handshake that fails or never finishes (a
 * plaintext peer, a silent peer, a client certificate that is missing, from
 * another CA or expired) is one WARNING line, and the peer never reaches a
 * worker or the store.
 */
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from '../common/logger.js';
import { opensslReason, TLS_MIN_VERSION, type TlsMaterial } from '../common/tls-files.js';
import { encodeErrorReply, ErrorCode, MessageType } from '../protocol/index.js';

/** A connection whose handshake succeeded; `certifiedName` is the client certificate's subject CN under mutual TLS, else null. */
export type SecureAccept = (socket: Socket, certifiedName: string | null) => void;

/** How long a refused peer gets to read its Error frame. */
const REFUSAL_LINGER_MS = 1000;

export function createAgencyTlsServer(material: TlsMaterial, handshakeTimeoutMs: number, logger: Logger, accept: SecureAccept): Server {
  const mutual = material.ca !== null;
  const server = createServer({
    cert: material.cert!,
    key: material.key!,
    ca: material.ca ?? undefined,
    requestCert: mutual,
    // The client certificate is checked below, once the handshake is done, and
    // not by OpenSSL mid-handshake: that way the refusal is logged with the
    // peer's address and why, and the agency is told in a frame it can read
    // (an Error it does not retry) instead of a hang-up it would retry.
    rejectUnauthorized: false,
    minVersion: TLS_MIN_VERSION,
    handshakeTimeout: handshakeTimeoutMs,
    // Half-open, as the plain port: a peer that sends and then shuts its side still gets its answer.
    allowHalfOpen: true,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const ip = socket.remoteAddress ?? 'unknown';
    let certifiedName: string | null = null;
    if (mutual) {
      const refusal = clientCertificateProblem(socket);
      if (refusal !== null) return refuse(socket, ip, refusal, logger);
      certifiedName = commonName(socket);
    }
    logger.debug('tls_handshake', 'success', {
      ip,
      protocol: socket.getProtocol() ?? 'unknown',
      cipher: socket.getCipher().name,
      ...(certifiedName !== null ? { certificate: certifiedName } : {}),
    });
    accept(socket, certifiedName);
  });
  // Said once per connection. Node does not always close the socket itself
  // (a handshake timeout leaves it open, holding its slot): close it here.
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    logger.warning('tls_handshake', 'fail', { ip: socket.remoteAddress ?? 'unknown', error: describeTlsError(error) });
    socket.destroy();
  });
  return server;
}

/** Why the peer's certificate is not acceptable, or null when it chains to our CA and is valid now. */
function clientCertificateProblem(socket: TLSSocket): string | null {
  if (socket.authorized) return null;
  if (Object.keys(socket.getPeerCertificate()).length === 0) return 'no client certificate';
  return `client certificate refused: ${String(socket.authorizationError)}`;
}

function refuse(socket: TLSSocket, ip: string, reason: string, logger: Logger): void {
  logger.warning('tls_handshake', 'fail', { ip, error: reason });
  socket.on('error', () => undefined);
  socket.end(encodeErrorReply({ type: MessageType.Error, code: ErrorCode.CertificateRefused, message: reason }));
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

/** The verified certificate's subject CN ('' when it has none or several: such a certificate names no agency). */
function commonName(socket: TLSSocket): string {
  const cn: unknown = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' ? cn : '';
}

/** "wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)": OpenSSL's reason without its location, and the code. */
export function describeTlsError(error: NodeJS.ErrnoException): string {
  const reason = opensslReason(error.message);
  return error.code && !reason.includes(error.code) ? `${reason} (${error.code})` : reason;
}
