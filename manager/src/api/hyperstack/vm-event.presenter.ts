// VM events, callback deliveries and signing secrets as JSON (pure: domain object in, JSON out).
import type { CallbackDelivery } from "../../callbacks/callback-url-service.js";
import type { SigningSecret } from "../../callbacks/callback-secrets.js";
import type { VmEvent } from "../../events/vm-event.js";
import type { CallbackDeliveryJson, InstanceEventJson, SigningSecretJson } from "./vm-event.schema.js";

export function instanceEventView(e: VmEvent): InstanceEventJson {
  return {
    instance_id: e.vm.id,
    org_id: e.vm.accountId,
    user_id: e.userId,
    type: e.type,
    object: "virtual_machine",
    message: e.message,
    reason: e.reason,
    time: e.at.toISOString(),
    event_id: e.id,
    from_state: e.state?.from ?? null,
    to_state: e.state?.to ?? null,
    action: e.action?.name ?? null,
    job_id: e.action?.jobId ?? null,
  };
}

export function callbackDeliveryView(d: CallbackDelivery): CallbackDeliveryJson {
  return {
    id: d.id,
    event_id: d.eventId,
    event_type: d.eventType,
    url: d.url,
    status: d.status,
    attempts: d.attempts.map((a) => ({
      attempt: a.attempt, url: a.url, started_at: a.startedAt.toISOString(), duration_ms: a.durationMs, status_code: a.statusCode, error: a.error,
    })),
    next_attempt_at: d.nextAttemptAt?.toISOString() ?? null,
    created_at: d.createdAt.toISOString(),
    finished_at: d.finishedAt?.toISOString() ?? null,
  };
}

export function signingSecretView(s: SigningSecret): SigningSecretJson {
  return {
    secret: s.secret,
    created_at: s.createdAt.toISOString(),
    rotated_at: s.rotatedAt?.toISOString() ?? null,
    previous_valid_until: s.previousValidUntil?.toISOString() ?? null,
  };
}
