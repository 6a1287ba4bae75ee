// How a host becomes known and stays known: it enrolls with a join token (a one-time
// registration token, or the manager's static cluster token when that is allowed) and, with a
// CSR, receives a client certificate; afterwards it refreshes its facts as the host its
// certificate (or, without mTLS, its secret) names, and may renew its certificate on the way.
import { eq } from "drizzle-orm";
import { ForbiddenError, InvalidArgumentError, UnauthenticatedError } from "#shared/errors.js";
import type { HostFacts } from "#shared/protocol.js";
import { hosts } from "../db/schema.js";
import type { HostService, RegisteredHost } from "../hosts/host-service.js";
import type { HostCertificateService } from "./host-certificate-service.js";
import type { RegistrationTokenService } from "./registration-token-service.js";

export interface Enrolled extends RegisteredHost {
  /** Empty when no CSR was sent. */
  certificatePem: string;
  caPem: string;
}

export interface HostEnrollmentOptions {
  hosts: HostService;
  tokens: RegistrationTokenService;
  certificates: HostCertificateService;
  /**
   * The static cluster token (ORBIT_AGENT_TOKEN or generated at start): multi-use, for the
   * simulated fleet and dev setups. Returns false for every token when it is disabled.
   */
  staticTokenValid: (token: string) => boolean;
  /** mTLS is on: enrollment must come with a CSR (the host cannot connect without a certificate). */
  requireCertificate: boolean;
}

export class HostEnrollment {
  constructor(private readonly o: HostEnrollmentOptions) {}

  get caPem(): string {
    return this.o.certificates.ca.certPem;
  }

  async enrollWithToken(token: string, facts: HostFacts | undefined, csrPem: string): Promise<Enrolled> {
    if (!token) throw new UnauthenticatedError("a join token is required to register");
    if (this.o.requireCertificate && !csrPem) {
      throw new InvalidArgumentError("csr_pem", "this manager requires mutual TLS: registration must include a CSR (csr_pem)");
    }
    // The CSR is checked before the token is spent, so a broken CSR does not burn a token.
    if (csrPem) await this.o.certificates.ca.checkCsr(csrPem);
    const isStatic = this.o.staticTokenValid(token);
    let tokenId: number | undefined;
    let certificatePem = "";
    const host = await this.o.hosts.register(facts, {
      authorize: async (tx, uuid) => {
        if (!isStatic) tokenId = await this.o.tokens.consume(tx, token);
        // A token admits a new host, or one an admin reset (POST /v1/admin/hosts/{id}/reset-identity),
        // never a takeover of a host that can still prove who it is, with or without mTLS.
        const [existing] = await tx.select({ id: hosts.id, secretHash: hosts.secretHash }).from(hosts).where(eq(hosts.uuid, uuid));
        if (existing && existing.secretHash !== "") {
          throw new ForbiddenError(`host ${uuid} is already registered: an admin must reset its identity (POST /v1/admin/hosts/${existing.id}/reset-identity) before it registers again`);
        }
        if (await this.o.certificates.hasLiveCertificate(tx, uuid)) {
          throw new ForbiddenError(`host ${uuid} already holds a valid certificate: revoke it before registering this host again`);
        }
      },
      registered: async (tx, h) => {
        if (tokenId !== undefined) await this.o.tokens.markUsedBy(tx, tokenId, h.id);
        if (csrPem) certificatePem = (await this.o.certificates.issue(tx, h, csrPem)).certPem;
      },
    });
    return { ...host, certificatePem, caPem: this.caPem };
  }

  /** A known host (authenticated by the caller) refreshing its facts; a CSR renews its certificate. */
  async refresh(known: { uuid: string }, facts: HostFacts | undefined, csrPem: string): Promise<Enrolled> {
    if (facts && facts.hostUuid.toLowerCase() !== known.uuid) {
      throw new InvalidArgumentError("facts.host_uuid", "a host cannot register facts for another host id");
    }
    if (csrPem) await this.o.certificates.ca.checkCsr(csrPem);
    let certificatePem = "";
    const host = await this.o.hosts.register(facts, {
      registered: async (tx, h) => {
        if (csrPem) certificatePem = (await this.o.certificates.issue(tx, h, csrPem)).certPem;
      },
    });
    return { ...host, certificatePem, caPem: this.caPem };
  }
}
