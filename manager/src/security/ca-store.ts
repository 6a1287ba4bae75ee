// Loads the deployment's CA from the database, creating it on the very first start. Managers
// that start together race on the insert of row 1; the loser reads the winner's CA.
import { eq } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { certificateAuthorities } from "../db/schema.js";
import { CertificateAuthority } from "./certificate-authority.js";

const CA_ROW = 1;

export async function loadOrCreateCertificateAuthority(db: Db): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const [existing] = await db.select().from(certificateAuthorities).where(eq(certificateAuthorities.id, CA_ROW));
  if (existing) return { ca: await CertificateAuthority.fromPem(existing.certPem, existing.keyPem), created: false };
  const fresh = await CertificateAuthority.create();
  // The key goes in clear into the table: see the schema's note on wrapping it with a KMS.
  const inserted = await db.insert(certificateAuthorities)
    .values({ id: CA_ROW, certPem: fresh.certPem, keyPem: fresh.keyPem })
    .onConflictDoNothing().returning({ id: certificateAuthorities.id });
  if (inserted.length) return { ca: fresh, created: true };
  const [winner] = await db.select().from(certificateAuthorities).where(eq(certificateAuthorities.id, CA_ROW));
  return { ca: await CertificateAuthority.fromPem(winner!.certPem, winner!.keyPem), created: false };
}
