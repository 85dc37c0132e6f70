/**
 * PEM files for TLS, read and checked once at start-up so that a wrong path,
 * a file that is not PEM, or a key that does not match its certificate is a
 * configuration error naming the setting, not a failure at the first
 * connection.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { ConfigError, type Raw } from './config.js';

/** A certificate and its key (and, for verifying the peer, a CA), as PEM bytes. */
export interface TlsMaterial {
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
  readonly ca: Buffer | null;
  /** The files they came from, resolved, for logs. */
  readonly paths: { readonly cert: string | null; readonly key: string | null; readonly ca: string | null };
}

/** The oldest TLS version either program speaks; 1.3 is negotiated whenever both ends have it. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** The bytes of a PEM file; `label` is what the file must hold (e.g. CERTIFICATE, PRIVATE KEY). */
export function readPemFile(raw: Raw, label: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  const path = raw.value.trim();
  if (!existsSync(path) || !statSync(path).isFile()) throw new ConfigError(raw.key, `file ${path} does not exist`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new ConfigError(raw.key, `cannot read ${path}: ${(error as Error).message}`);
  }
  const text = bytes.toString('latin1');
  const found = label === 'CERTIFICATE' ? text.includes('-----BEGIN CERTIFICATE-----') : /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
  if (!found) throw new ConfigError(raw.key, `${path} holds no PEM ${label.toLowerCase()}`);
  return bytes;
}

/**
 * Reads what is given and checks it makes a usable TLS context: a certificate
 * needs its key (and the key must be the certificate's), and the reverse.
 */
export function loadTlsMaterial(cert: Raw | undefined, key: Raw | undefined, ca: Raw | undefined): TlsMaterial {
  if (cert && !key) throw new ConfigError(cert.key, `is set but its private key is not (${keyNameFor(cert.key)})`);
  if (key && !cert) throw new ConfigError(key.key, `is set but its certificate is not (${certNameFor(key.key)})`);
  const material: TlsMaterial = {
    cert: cert ? readPemFile(cert, 'CERTIFICATE') : null,
    key: key ? readPemFile(key, 'PRIVATE KEY') : null,
    ca: ca ? readPemFile(ca, 'CERTIFICATE') : null,
    paths: {
      cert: cert ? resolve(cert.value.trim()) : null,
      key: key ? resolve(key.value.trim()) : null,
      ca: ca ? resolve(ca.value.trim()) : null,
    },
  };
  // node:tls is loaded only when TLS is configured: it costs a process that never uses it several ms of start-up.
  const { createSecureContext } = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  try {
    createSecureContext({ cert: material.cert ?? undefined, key: material.key ?? undefined, ca: material.ca ?? undefined });
  } catch (error) {
    const blamed = cert && key ? `${cert.key}/${key.key}` : (ca?.key ?? 'TLS');
    throw new ConfigError(blamed, `not a usable certificate and key: ${(error as Error).message}`);
  }
  return material;
}

/** OpenSSL 3 messages read "<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:"; the reason is what matters. */
export function opensslReason(message: string): string {
  return /error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/i.exec(message)?.[1]?.trim() ?? message.trim();
}

const keyNameFor = (certKey: string) => certKey.replace(/CERT$/, 'KEY').replace(/cert$/, 'key');
const certNameFor = (keyKey: string) => keyKey.replace(/KEY$/, 'CERT').replace(/key$/, 'cert');
