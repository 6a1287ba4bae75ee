// Client certificates of hosts: issued from a host's CSR at registration, recorded so they can be
// revoked, and checked on every call that presents one (signed by our CA, in its validity
// window, recorded for that very host, not revoked).
import { and, eq, gt, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import { NotFoundError, UnauthenticatedError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { hostCertificates, hosts } from "../db/schema.js";
import type { CertificateAuthority, IssuedCertificate } from "./certificate-authority.js";

export interface CertifiedHost { id: number; uuid: string; name: string; serial: string; notAfter: Date }

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
      id: hosts.id, uuid: hosts.uuid, name: hosts.name, revokedAt: hostCertificates.revokedAt,
    }).from(hostCertificates).innerJoin(hosts, eq(hostCertificates.hostId, hosts.id))
      .where(eq(hostCertificates.serial, v.serial));
    // Signed by our CA but unknown: issued by another manager's database sharing the CA key, or
    // its host was deleted. Either way it does not speak for any host here.
    if (!row || row.uuid !== v.hostUuid) throw new UnauthenticatedError("the client certificate is not known to this manager");
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

  /** Revokes every certificate of the host; returns the serials revoked now. */
  async revokeForHost(hostId: number): Promise<string[]> {
    const [h] = await this.db.select({ id: hosts.id }).from(hosts).where(eq(hosts.id, hostId));
    if (!h) throw new NotFoundError("host", hostId);
    const rows = await this.db.update(hostCertificates).set({ revokedAt: new Date() })
      .where(and(eq(hostCertificates.hostId, hostId), isNull(hostCertificates.revokedAt)))
      .returning({ serial: hostCertificates.serial });
    return rows.map((r) => r.serial);
  }

  /** Of these serials, the ones revoked (by this manager or another sharing the database). */
  async revokedAmong(serials: string[]): Promise<string[]> {
    if (serials.length === 0) return [];
    const rows = await this.db.select({ serial: hostCertificates.serial }).from(hostCertificates)
      .where(and(inArray(hostCertificates.serial, serials), isNotNull(hostCertificates.revokedAt)));
    return rows.map((r) => r.serial);
  }

  async listForHost(hostId: number): Promise<{ serial: string; fingerprint_sha256: string; not_before: string; not_after: string; revoked_at: string | null }[]> {
    const rows = await this.db.select().from(hostCertificates).where(eq(hostCertificates.hostId, hostId)).orderBy(hostCertificates.id);
    return rows.map((r) => ({
      serial: r.serial, fingerprint_sha256: r.fingerprintSha256, not_before: r.notBefore.toISOString(),
      not_after: r.notAfter.toISOString(), revoked_at: r.revokedAt?.toISOString() ?? null,
    }));
  }
}
