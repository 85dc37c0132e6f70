/**
 * The session's first phase: Hello (the version, the roster), the optional
 * Challenge/Proof with the agency's secret, then the agency's slot and its
 * Welcome, which says what the store holds durably for it and where its file
 * is settled.
 */
import {
  encodeChallenge,
  encodeWelcome,
  ErrorCode,
  MessageType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  type Hello,
  type Proof,
} from '../../protocol/index.js';
import { DrawState } from '../central-state.js';
import type { AgencyLedger } from '../storage/store.js';
import type { SessionCore } from './core.js';

/**
 * node:crypto costs every worker about 1 MB (measured on Node 24), and only a
 * central with agency secrets needs it: loaded at the first Hello it checks.
 */
let authModule: Promise<typeof import('../../common/auth.js')> | undefined;
const loadAuth = () => (authModule ??= import('../../common/auth.js'));

/** The subject CN an agency's client certificate must carry under mutual TLS. */
const agencyCommonName = (agency: number) => `agency-${agency}`;

export class Handshake {
  /** The Hello being authenticated, and the nonce we challenged it with. */
  #challenge: { hello: Hello; nonce: Buffer } | null = null;

  constructor(
    private readonly core: SessionCore,
    /** The agency is welcomed: betting (or what follows Done) may start. */
    private readonly welcomed: (hello: Hello, ledger: AgencyLedger) => void,
  ) {}

  async hello(hello: Hello): Promise<void> {
    const { core } = this;
    if (core.phase !== 'greeting') return core.fail(ErrorCode.UnexpectedMessage, 'second hello in one session');
    if (hello.version !== PROTOCOL_VERSION) {
      return core.fail(
        ErrorCode.UnsupportedVersion,
        `protocol version ${hello.version} is not supported (this central speaks ${PROTOCOL_VERSION})`,
      );
    }
    const { secrets, store, drawConfigured, certifiedName } = core.deps;
    if (certifiedName !== null && certifiedName !== agencyCommonName(hello.agency)) {
      return core.fail(
        ErrorCode.CertificateMismatch,
        `the client certificate names ${JSON.stringify(certifiedName)}, not ${agencyCommonName(hello.agency)}`,
        'tls_identity',
      );
    }
    if (drawConfigured && !store.expects(hello.agency)) {
      return core.fail(ErrorCode.NotExpected, `agency ${hello.agency} is not on this lottery's roster`, 'session_refused');
    }
    if (!secrets) return this.#admit(hello);
    if (!secrets.has(hello.agency)) return this.#authFailed(hello.agency, `agency ${hello.agency} has no secret at this central`);
    const nonce = (await loadAuth()).newNonce(NONCE_BYTES);
    if (core.closed) return;
    this.#challenge = { hello, nonce };
    core.phase = 'authenticating';
    core.deps.send(encodeChallenge({ type: MessageType.Challenge, nonce }));
  }

  async proof(proof: Proof): Promise<void> {
    const { core } = this;
    const challenge = this.#challenge;
    if (core.phase !== 'authenticating' || !challenge) return core.fail(ErrorCode.UnexpectedMessage, 'proof without a challenge');
    this.#challenge = null;
    const { hello, nonce } = challenge;
    const secret = core.deps.secrets!.get(hello.agency)!;
    const { verifyProof } = await loadAuth();
    if (core.closed) return;
    if (!verifyProof(secret, hello.agency, hello.nonce, nonce, proof.mac)) {
      return this.#authFailed(hello.agency, `proof does not match the secret of agency ${hello.agency}`);
    }
    return this.#admit(hello);
  }

  #authFailed(agency: number, reason: string): void {
    this.core.deps.logger.warning('auth', 'fail', { agency, ip: this.core.deps.peer, reason });
    this.core.fail(ErrorCode.AuthFailed, 'authentication failed');
  }

  /** The agency is who it says: claim its slot and tell it where its durable ledger stands. */
  async #admit(hello: Hello): Promise<void> {
    const { core } = this;
    const { central, store, logger } = core.deps;
    if (!central.claimAgency(hello.agency)) return core.fail(ErrorCode.AgencyBusy, `agency ${hello.agency} already has an open session`);
    core.agency = hello.agency;
    core.deps.claimed(hello.agency);
    let ledger: AgencyLedger;
    try {
      ledger = await store.ledger(hello.agency);
    } catch (error) {
      return core.storeError(error); // busy at another central, unavailable, or the central is stopping
    }
    if (core.closed) return;
    this.welcomed(hello, ledger);
    const drawDone = central.drawState() === DrawState.Done;
    logger.info('session_started', 'success', { agency: hello.agency, ip: core.deps.peer, stored: ledger.stored, settled: ledger.settled });
    core.deps.send(
      encodeWelcome({ type: MessageType.Welcome, stored: ledger.stored, settled: ledger.settled, finished: ledger.finished, drawDone }),
    );
  }
}
