/**
 * Agency authentication by challenge–response. The secret never crosses the
 * wire: the agency proves it holds it by signing both nonces, so a recorded
 * handshake is useless against the next (fresh) server nonce.
 *
 *   proof = HMAC-SHA256(secret, "lottery-auth-v1" || u16be agency || clientNonce || serverNonce)
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const CONTEXT = Buffer.from('lottery-auth-v1');

/** A fresh random nonce for a challenge. */
export function newNonce(bytes: number): Buffer {
  return randomBytes(bytes);
}

export function computeProof(secret: string, agency: number, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(agency);
  return createHmac('sha256', secret).update(CONTEXT).update(id).update(clientNonce).update(serverNonce).digest();
}

export function verifyProof(secret: string, agency: number, clientNonce: Buffer, serverNonce: Buffer, proof: Buffer): boolean {
  const expected = computeProof(secret, agency, clientNonce, serverNonce);
  return proof.length === expected.length && timingSafeEqual(proof, expected);
}

/**
 * Secrets file: one `agency secret` pair per line (`1 s3cr3t` or `1=s3cr3t`),
 * blank lines and `#` comments ignored. Throws with the line at fault.
 */
export function parseSecrets(text: string, source: string): Map<number, string> {
  const secrets = new Map<number, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(\d{1,5})\s*[=\s]\s*(\S.*)$/.exec(line);
    const agency = match ? Number(match[1]) : NaN;
    if (!match || agency < 1 || agency > 65535) {
      throw new Error(`${source} line ${index + 1}: expected "<agency 1..65535> <secret>"`);
    }
    if (match[2].length < 8) throw new Error(`${source} line ${index + 1}: the secret of agency ${agency} is shorter than 8 characters`);
    secrets.set(agency, match[2]);
  });
  return secrets;
}

export function readSecretsFile(path: string): Map<number, string> {
  return parseSecrets(readFileSync(path, 'utf8'), path);
}
