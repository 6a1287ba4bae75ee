// Hosts' mTLS client certificates (admin): list them, revoke them (open streams are dropped).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { HostCertificateService } from "../../security/host-certificate-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { hostCertificateView } from "./host-certificate.presenter.js";
import { HostCertificateView } from "./host-certificate.schema.js";

const Revoked = Type.Array(Type.String({ description: "Serial of a certificate revoked by this request" }));

export const hostCertificateRoutes = (certificates: HostCertificateService): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/admin/hosts/:id/reset-identity", {
    schema: {
      tags: ["admin"],
      summary: "Forget a host's credentials (secret and certificates): its agent is disconnected, and the host may register again with a join token (agent reinstalled, identity lost)",
      params: IdParams,
      response: { 200: ok({ revoked: Revoked }), ...errors },
    },
  }, async (req) => ({
    status: true as const, message: "Host identity reset: it may register again with a join token", revoked: await certificates.resetIdentity(req.params.id),
  }));

  app.get("/v1/admin/hosts/:id/certificates", {
    schema: {
      tags: ["admin"], summary: "List the client certificates issued to a host", params: IdParams,
      response: { 200: ok({ certificates: Type.Array(HostCertificateView) }), ...errors },
    },
  }, async (req) => ({
    status: true as const, message: "Getting host certificates success", certificates: (await certificates.listForHost(req.params.id)).map(hostCertificateView),
  }));

  app.post("/v1/admin/hosts/:id/revoke-certificate", {
    schema: {
      tags: ["admin"],
      summary: "Revoke every client certificate of a host: its agent is disconnected and refused until it enrolls again with a new token",
      params: IdParams,
      response: { 200: ok({ revoked: Revoked }), ...errors },
    },
  }, async (req) => {
    // Revocation resets the host's identity: it enrolls again with a new token, as a reset host.
    const serials = await certificates.resetIdentity(req.params.id);
    return { status: true as const, message: `Revoked ${serials.length} certificate(s)`, revoked: serials };
  });
};
