// Response schemas of a VM's events and callbacks (Hyperstack's InstanceEvents and callback
// answers, plus Orbit's delivery log and signing secret).
import { Type, type Static } from "@sinclair/typebox";
import { ok, SingleLineText } from "../schemas.js";

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const InstanceEvent = Type.Object({
  instance_id: Type.Integer({ description: "The VM's id" }),
  org_id: Type.Integer({ description: "The VM's account" }),
  user_id: Type.Union([Type.Integer(), Type.Null()], { description: "Who acted (created the VM, asked for the action); null: Orbit itself, or before users existed" }),
  type: Type.String({ description: "created, state_changed, action_requested, action_succeeded or action_failed" }),
  object: Type.Literal("virtual_machine"),
  message: Type.String(),
  reason: Type.String({ description: "The recorded cause (state changes), the job (actions) or the error (failed actions)" }),
  time: Type.String({ format: "date-time" }),
  event_id: Type.String({ description: "Orbit: the same id as the callback's X-Orbit-Event-Id" }),
  from_state: Nullable(Type.String({ description: "Orbit: the state before (state_changed)" })),
  to_state: Nullable(Type.String({ description: "Orbit: the state after (state_changed)" })),
  action: Nullable(Type.String({ description: "Orbit: the action (deploy, destroy...) of action_* events" })),
  job_id: Type.Union([Type.Integer(), Type.Null()], { description: "Orbit: the job carrying the action (GET /v1/core/jobs/{id})" }),
}, { additionalProperties: false });
export type InstanceEventJson = Static<typeof InstanceEvent>;

export const InstanceEventsResponse = ok({ instance_events: Type.Array(InstanceEvent) });

export const CallbackUrlBody = Type.Object({
  url: SingleLineText({ minLength: 1, maxLength: 2048, description: "http or https URL that receives the VM's events (README, Event callbacks)" }),
}, { additionalProperties: false });

export const CallbackUrlResponse = ok({ url: Type.String() });

export const CallbackAttempt = Type.Object({
  attempt: Type.Integer({ minimum: 1 }),
  url: Type.String(),
  started_at: Type.String({ format: "date-time" }),
  duration_ms: Type.Integer({ minimum: 0 }),
  status_code: Type.Union([Type.Integer(), Type.Null()], { description: "The receiver's HTTP status; null when none came back" }),
  error: Nullable(Type.String({ description: "Why no status came back (refused address, connection, timeout)" })),
}, { additionalProperties: false });

export const CallbackDelivery = Type.Object({
  id: Type.Integer(),
  event_id: Type.String(),
  event_type: Type.String(),
  url: Type.String(),
  status: Type.Union([Type.Literal("pending"), Type.Literal("delivered"), Type.Literal("failed"), Type.Literal("cancelled")], {
    description: "pending (to be sent or retried), delivered (2xx), failed (given up after the retry window), cancelled (the callback URL was removed)",
  }),
  attempts: Type.Array(CallbackAttempt),
  next_attempt_at: Nullable(Type.String({ format: "date-time" })),
  created_at: Type.String({ format: "date-time" }),
  finished_at: Nullable(Type.String({ format: "date-time" })),
}, { additionalProperties: false });
export type CallbackDeliveryJson = Static<typeof CallbackDelivery>;

export const CallbackDeliveriesResponse = ok({ deliveries: Type.Array(CallbackDelivery) });

export const SigningSecret = Type.Object({
  secret: Type.String({ description: "HMAC-SHA256 key of X-Orbit-Signature (README, Event callbacks)" }),
  created_at: Type.String({ format: "date-time" }),
  rotated_at: Nullable(Type.String({ format: "date-time" })),
  previous_valid_until: Nullable(Type.String({ format: "date-time", description: "Until then callbacks also carry a signature with the previous secret" })),
}, { additionalProperties: false });
export type SigningSecretJson = Static<typeof SigningSecret>;

export const SigningSecretResponse = ok({ signing_secret: SigningSecret });
