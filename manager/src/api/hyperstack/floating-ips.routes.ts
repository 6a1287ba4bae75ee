// A VM's floating (public) IP: Hyperstack's attach-floatingip and detach-floatingip.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FloatingIpService } from "../../network/floating-ip-service.js";
import { errors, IdParams, ok } from "../schemas.js";

const FloatingIpResponse = ok({ floating_ip: Type.String({ description: "The public address attached or detached" }) });

export const floatingIpRoutes = (floating: FloatingIpService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ["floating ip"];

  app.post("/v1/core/virtual-machines/:id/attach-floatingip", {
    schema: {
      tags, summary: "Attach a public IP to a virtual machine",
      description: "From its environment's floating IP pool. 409 when the VM already has one, or the environment has no pool or none is free.",
      params: IdParams, response: { 200: FloatingIpResponse, ...errors },
    },
  }, async (req) => {
    const r = await floating.attach(req.principal, req.params.id);
    return { status: true as const, message: "Public IP attached to the virtual machine", floating_ip: r.floatingIp };
  });

  app.post("/v1/core/virtual-machines/:id/detach-floatingip", {
    schema: {
      tags, summary: "Detach the public IP of a virtual machine",
      description: "Its address goes back to the pool. 409 when the VM has none.",
      params: IdParams, response: { 200: FloatingIpResponse, ...errors },
    },
  }, async (req) => {
    const r = await floating.detach(req.principal, req.params.id);
    return { status: true as const, message: "Public IP detached from the virtual machine", floating_ip: r.floatingIp };
  });
};
