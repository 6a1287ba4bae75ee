import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { InvalidArgumentError } from "#shared/errors.js";
import { SECURITY_RULE_PROTOCOLS } from "#shared/security-rules.js";
import type { SecurityRuleService } from "../../security-rules/security-rule-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { securityRuleView } from "./security-rule.presenter.js";
import { CreateSecurityRuleBody, SecurityRuleView, SgRuleParams } from "./security-rule.schema.js";

export const securityRuleRoutes = (rules: SecurityRuleService): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/core/virtual-machines/:id/sg-rules", {
    schema: {
      tags: ["security-rules"],
      summary: "Add a firewall rule to a virtual machine",
      description: "Stored at once; a VM whose domain may be up gets its new rule set from a vm.firewall job.",
      params: IdParams, body: CreateSecurityRuleBody,
      response: { 200: ok({ security_rule: SecurityRuleView }), ...errors },
    },
  }, async (req) => {
    const { virtual_machine_id: vmIdInBody, ...input } = req.body;
    if (vmIdInBody !== undefined && vmIdInBody !== req.params.id) {
      throw new InvalidArgumentError("virtual_machine_id", `virtual_machine_id ${vmIdInBody} is not the VM of the path (${req.params.id})`);
    }
    const rule = await rules.add(req.principal, req.params.id, input);
    return { status: true as const, message: "Security rule added", security_rule: securityRuleView(rule) };
  });

  app.delete("/v1/core/virtual-machines/:id/sg-rules/:sg_rule_id", {
    schema: {
      tags: ["security-rules"], summary: "Delete a firewall rule of a virtual machine", params: SgRuleParams,
      response: { 200: ok({}), ...errors },
    },
  }, async (req) => {
    await rules.remove(req.principal, req.params.id, req.params.sg_rule_id);
    return { status: true as const, message: "Security rule deleted" };
  });

  app.get("/v1/core/sg-rules-protocols", {
    schema: {
      tags: ["security-rules"], summary: "List firewall rule protocols",
      response: { 200: ok({ protocols: Type.Array(Type.String()) }), ...errors },
    },
  }, async () => ({ status: true as const, message: "Getting protocols success", protocols: [...SECURITY_RULE_PROTOCOLS] }));
};
