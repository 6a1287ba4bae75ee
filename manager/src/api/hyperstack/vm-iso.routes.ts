// Orbit's CloudStack attachIso/detachIso on the /v1/core dialect: one ISO image in a VM's cdrom,
// changed at once in a running VM and from the next start in a stopped one.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { VmIsos } from "../../vm/vm-iso.js";
import { errors, IdParams, ok } from "../schemas.js";

const IsoRef = Type.Object({ id: Type.Integer(), name: Type.String() }, { additionalProperties: false });

export const vmIsoRoutes = (isos: VmIsos): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/core/virtual-machines/:id/attach-iso", {
    schema: {
      tags: ["virtual-machines"], params: IdParams,
      summary: "Orbit: put a Ready ISO image of the VM's region in a stopped or running VM's cdrom (one at a time; a running VM's media changes at once, a stopped VM's at its next start)",
      body: Type.Object({ image_id: Type.Integer({ minimum: 1, description: "An ISO image (GET /v1/core/images)" }) }, { additionalProperties: false }),
      response: { 200: ok({ iso: IsoRef }), ...errors },
    },
  }, async (req) => {
    const { live, ...iso } = await isos.attach(req.principal, req.params.id, req.body.image_id);
    return { status: true as const, message: live ? "ISO attached: it is being inserted into the running VM's cdrom" : "ISO attached: the VM's cdrom holds it from its next start", iso };
  });

  app.post("/v1/core/virtual-machines/:id/detach-iso", {
    schema: {
      tags: ["virtual-machines"], params: IdParams,
      summary: "Orbit: empty a stopped or running VM's cdrom (a running VM's media is ejected at once; a VM created from the ISO then boots its disk)",
      response: { 200: ok({ iso: IsoRef }), ...errors },
    },
  }, async (req) => {
    const { live, ...iso } = await isos.detach(req.principal, req.params.id);
    return { status: true as const, message: live ? "ISO detached: it is being ejected from the running VM's cdrom" : "ISO detached", iso };
  });
};
