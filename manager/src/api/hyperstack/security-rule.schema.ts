// What the /v1/core security rule (sg-rules) routes accept and answer: Hyperstack's
// Create_Security_Rule_Payload and Security_Rules_Fields_for_Instance. The checks beyond types
// (directions, protocols, prefixes, port ranges) are shared/src/security-rules.ts's, answered
// 400 naming the field.
import { Type } from "@sinclair/typebox";
import { SECURITY_RULE_PROTOCOLS } from "#shared/security-rules.js";
import { Id, SingleLineText } from "../schemas.js";

const Port = () => Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()]);

export const CreateSecurityRuleBody = Type.Object({
  direction: SingleLineText({ maxLength: 16, description: "ingress (to the VM) or egress (from it)" }),
  ethertype: SingleLineText({ maxLength: 8, description: "IPv4 or IPv6" }),
  protocol: SingleLineText({ maxLength: 16, description: `One of GET /v1/core/sg-rules-protocols: ${SECURITY_RULE_PROTOCOLS.join(", ")}` }),
  remote_ip_prefix: SingleLineText({ minLength: 1, maxLength: 64, description: "CIDR of the remote end (0.0.0.0/0, ::/0: anywhere); a bare address is a /32 (/128)" }),
  port_range_min: Type.Optional(Port()),
  port_range_max: Type.Optional(Port()),
  virtual_machine_id: Type.Optional(Id("The VM of the path, if given")),
}, { additionalProperties: false });

export const SecurityRuleView = Type.Object({
  id: Type.Integer(),
  direction: Type.String(),
  ethertype: Type.String(),
  protocol: Type.String(),
  port_range_min: Type.Union([Type.Integer(), Type.Null()], { description: "null: every port" }),
  port_range_max: Type.Union([Type.Integer(), Type.Null()], { description: "null: every port" }),
  remote_ip_prefix: Type.String(),
  status: Type.String({ description: "active: part of the VM's firewall (applied to the host while the VM runs)" }),
  created_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });

export const SgRuleParams = Type.Object({ id: Id(), sg_rule_id: Id() }, { additionalProperties: false });
