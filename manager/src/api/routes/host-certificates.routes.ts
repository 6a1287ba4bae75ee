// Hosts' mTLS client certificates (admin): list them, revoke them (open streams are dropped).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { HostCertificateService } from "../../security/host-certificate-service.js";
import { errors, IdParams, ok } from "../schemas.js";

export const hostCertificateRoutes = (
  certificates: HostCertificateService,
  onRevoked: (hostId: number, serials: string[]) => void,
): FastifyPluginAsyncTypebox => async (app) => {
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
    onRevoked(req.params.id, serials);
    return { status: true as const, message: `Revoked ${serials.length} certificate(s)`, revoked: serials };
  });
};
