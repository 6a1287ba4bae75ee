// Request/response schemas shared by the routes (TypeBox → JSON Schema → OpenAPI).
import { Type, type TProperties } from "@sinclair/typebox";

export const ErrorBody = Type.Object({
  status: Type.Literal(false),
  message: Type.String(),
  error_reason: Type.String(),
  field: Type.Optional(Type.String()),
}, { additionalProperties: true, description: "Hyperstack-style error" });

export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2147483647 }) }, { additionalProperties: false });

export const Instance = Type.Object({
  id: Type.Integer(),
  uuid: Type.String(),
  name: Type.String(),
  status: Type.String({ description: "Hyperstack status: CREATING, ACTIVE, SHUTOFF, ERROR, DELETING..." }),
  power_state: Type.String(),
  vm_state: Type.String(),
  orbit_state: Type.String({ description: "Orbit's own state machine state" }),
  state_reason: Type.String(),
  fixed_ip: Type.Union([Type.String(), Type.Null()]),
  floating_ip: Type.Union([Type.String(), Type.Null()]),
  environment: Type.Object({ name: Type.String() }, { additionalProperties: true }),
  flavor: Type.Object({}, { additionalProperties: true }),
  image: Type.Object({ name: Type.String() }, { additionalProperties: true }),
  keypair: Type.Object({ name: Type.Union([Type.String(), Type.Null()]) }),
  security_rules: Type.Array(Type.Unknown()),
  volume_attachments: Type.Array(Type.Unknown()),
  labels: Type.Array(Type.String()),
  callback_url: Type.Union([Type.String(), Type.Null()]),
  host: Type.Union([Type.String(), Type.Null()]),
  placement: Type.Unknown(),
  created_at: Type.String(),
}, { additionalProperties: true });

export const ok = <P extends TProperties>(props: P) =>
  Type.Object({ status: Type.Literal(true), message: Type.String(), ...props }, { additionalProperties: true });

export const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
