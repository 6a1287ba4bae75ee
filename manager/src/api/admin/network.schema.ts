import { Type } from "@sinclair/typebox";

export const AdminNetwork = Type.Object({
  id: Type.Integer(),
  environment_id: Type.Integer(),
  environment_name: Type.String(),
  region_id: Type.Integer(),
  cidr: Type.String({ description: "The environment's private IPv4 network" }),
  prefix_length: Type.Integer(),
  gateway: Type.String({ description: "Its first address" }),
  bridge: Type.String({ description: "The Linux bridge of this network on each host" }),
  nameservers: Type.Array(Type.String()),
  floating_ip_pool: Type.Union([Type.String(), Type.Null()], { description: "Public addresses for floating IPs (null: none)" }),
  addresses_in_use: Type.Integer({ description: "Private addresses given to VMs" }),
  floating_ips_in_use: Type.Integer(),
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });

export const ChangeNetworkBody = Type.Object({
  cidr: Type.Optional(Type.String({ maxLength: 18, description: "IPv4 CIDR (/16 to /29), not overlapping another network of the region; refused while VMs hold addresses" })),
  floating_ip_pool: Type.Optional(Type.Union([Type.String({ maxLength: 18 }), Type.Null()], {
    description: "IPv4 CIDR of public addresses, not overlapping another pool; null removes it; refused while floating IPs are attached",
  })),
}, { additionalProperties: false, minProperties: 1 });
