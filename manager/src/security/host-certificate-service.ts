// Client certificates of hosts: issued from a host's CSR at registration, recorded so they can be
// revoked, and checked on every call that presents one (signed by our CA, in its validity
// window, recorded for that very host, not revoked).
import { and, eq, gt, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import { NotFoundError, UnauthenticatedError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { hostCertificates, hosts } from "../db/schema.js";
import type { CertificateAuthority, IssuedCertificate } from "./certificate-authority.js";

export interface CertifiedHost { id: number; uuid: string; name: string; serial: string; notAfter: Date }

/** A certificate issued to a host, as recorded. */
export type HostCertificate = Pick<typeof hostCertificates.$inferSelect, "serial" | "fingerprintSha256" | "notBefore" | "notAfter" | "revokedAt">;

/** Told which serials of a host were just revoked (to drop its open streams at once). */
export type RevocationListener = (hostId: number, serials: string[]) => void;

export class HostCertificateService {
  constructor(
    private readonly db: Db,
    readonly ca: CertificateAuthority,
    private readonly validityDays: () => number,
  ) {}

  /** Signs the host's CSR and records the certificate, in the registration's transaction. */
  async issue(tx: Tx, host: { id: number; uuid: string }, csrPem: string): Promise<IssuedCertificate> {
    const cert = await this.ca.signHostCsr(csrPem, host.uuid, this.validityDays());
    await tx.insert(hostCertificates).values({
      hostId: host.id, serial: cert.serial, fingerprintSha256: cert.fingerprintSha256,
      notBefore: cert.notBefore, notAfter: cert.notAfter,
    });
    return cert;
  }

  /** The host a client certificate (DER, as TLS presented it) speaks for. */
  async authenticate(der: Buffer): Promise<CertifiedHost> {
    const v = this.ca.verifyHostCertificate(der);
    const [row] = await this.db.select({
      id: hosts.id, uuid: hosts.uuid, name: hosts.name, revokedAt: hostCertificates.revokedAt, removedAt: hosts.removedAt,
    }).from(hostCertificates).innerJoin(hosts, eq(hostCertificates.hostId, hosts.id))
      .where(eq(hostCertificates.serial, v.serial));
    // Signed by our CA but unknown: issued by another manager's database sharing the CA key, or
    // its host was deleted. Either way it does not speak for any host here.
    if (!row || row.uuid !== v.hostUuid) throw new UnauthenticatedError("the client certificate is not known to this manager");
    if (row.removedAt) throw new UnauthenticatedError(removedHostMessage(row.uuid));
    if (row.revokedAt) throw new UnauthenticatedError("the client certificate has been revoked");
    return { id: row.id, uuid: row.uuid, name: row.name, serial: v.serial, notAfter: v.notAfter };
  }

  /** Whether the host holds a certificate that still works (registration must not hijack it). */
  async hasLiveCertificate(tx: Tx, hostUuid: string): Promise<boolean> {
    const [row] = await tx.select({ id: hostCertificates.id }).from(hostCertificates)
      .innerJoin(hosts, eq(hostCertificates.hostId, hosts.id))
      .where(and(eq(hosts.uuid, hostUuid.toLowerCase()), isNull(hostCertificates.revokedAt), gt(hostCertificates.notAfter, sql`now()`)))
      .limit(1);
    return Boolean(row);
  }

  private readonly revocationListeners: RevocationListener[] = [];

  onRevoked(listener: RevocationListener): void {
    this.revocationListeners.push(listener);
  }

  /**
   * Forgets the host's credentials: revokes every certificate it holds and clears its secret, so
   * its agent is disconnected and the host enrolls again with a join token, as a new install
   * would. Returns the serials revoked now.
   */
  async resetIdentity(hostId: number): Promise<string[]> {
    const serials = await this.db.transaction(async (tx) => {
      const [h] = await tx.update(hosts).set({ secretHash: "", updatedAt: new Date() }).where(eq(hosts.id, hostId)).returning({ id: hosts.id });
      if (!h) throw new NotFoundError("host", hostId);
      const rows = await tx.update(hostCertificates).set({ revokedAt: new Date() })
        .where(and(eq(hostCertificates.hostId, hostId), isNull(hostCertificates.revokedAt)))
        .returning({ serial: hostCertificates.serial });
      return rows.map((r) => r.serial);
    });
    for (const listener of this.revocationListeners) listener(hostId, serials);
    return serials;
  }

  /** Of these serials, the ones revoked (by this manager or another sharing the database). */
  async revokedAmong(serials: string[]): Promise<string[]> {
    if (serials.length === 0) return [];
    const rows = await this.db.select({ serial: hostCertificates.serial }).from(hostCertificates)
      .where(and(inArray(hostCertificates.serial, serials), isNotNull(hostCertificates.revokedAt)));
    return rows.map((r) => r.serial);
  }

  /** The host's certificates, oldest first (none for an unknown host). */
  async listForHost(hostId: number): Promise<HostCertificate[]> {
    return this.db.select({
      serial: hostCertificates.serial, fingerprintSha256: hostCertificates.fingerprintSha256,
      notBefore: hostCertificates.notBefore, notAfter: hostCertificates.notAfter, revokedAt: hostCertificates.revokedAt,
    }).from(hostCertificates).where(eq(hostCertificates.hostId, hostId)).orderBy(hostCertificates.id);
  }
}

/** Why a removed host's agent is refused (hosts/host-removal.ts removes hosts). */
export function removedHostMessage(uuid: string): string {
  return `host ${uuid} was removed from this manager by an admin; it may only join again with a new join token`;
}
