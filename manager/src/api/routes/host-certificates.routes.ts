// Hosts' mTLS client certificates (admin): list them, revoke them (open streams are dropped).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { eq } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db } from "../../db/database.js";
import { hosts } from "../../db/schema.js";
import type { HostCertificateService } from "../../security/host-certificate-service.js";
import { errors, IdParams, ok } from "../schemas.js";

export const hostCertificateRoutes = (
  db: Db,
  certificates: HostCertificateService,
  onRevoked: (hostId: number, serials: string[]) => void,
): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/admin/hosts/:id/reset-identity", {
    schema: {
      tags: ["admin"],
      summary: "Forget a host's credentials (secret and certificates): its agent is disconnected, and the host may register again with a join token (agent reinstalled, identity lost)",
      params: IdParams,
      response: { 200: ok({ revoked: Type.Array(Type.String()) }), ...errors },
    },
  }, async (req) => {
    const [h] = await db.update(hosts).set({ secretHash: "", updatedAt: new Date() }).where(eq(hosts.id, req.params.id)).returning({ id: hosts.id });
    if (!h) throw new NotFoundError("host", req.params.id);
    const serials = await certificates.revokeForHost(req.params.id);
    onRevoked(req.params.id, serials);
    return { status: true as const, message: "Host identity reset: it may register again with a join token", revoked: serials };
  });

  app.get("/v1/admin/hosts/:id/certificates", {
    schema: {
      tags: ["admin"], summary: "List the client certificates issued to a host", params: IdParams,
      response: { 200: ok({ certificates: Type.Array(Type.Unknown()) }), ...errors },
    },
  }, async (req) => ({
    status: true as const, message: "Getting host certificates success", certificates: await certificates.listForHost(req.params.id),
  }));

  app.post("/v1/admin/hosts/:id/revoke-certificate", {
    schema: {
      tags: ["admin"],
      summary: "Revoke every client certificate of a host: its agent is disconnected and refused until it enrolls again with a new token",
      params: IdParams,
      response: { 200: ok({ revoked: Type.Array(Type.String()) }), ...errors },
    },
  }, async (req) => {
    const serials = await certificates.revokeForHost(req.params.id);
    // Revocation resets the host's identity: it enrolls again with a new token, as a reset host.
    await db.update(hosts).set({ secretHash: "", updatedAt: new Date() }).where(eq(hosts.id, req.params.id));
    onRevoked(req.params.id, serials);
    return { status: true as const, message: `Revoked ${serials.length} certificate(s)`, revoked: serials };
  });
};
