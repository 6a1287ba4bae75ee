// The JSON body POSTed to a callback URL for one VM event (README, Event callbacks): Hyperstack's
// dialect, like the API's answers. Written once into the outbox (callbacks/callback-outbox.ts), so
// every attempt sends the same bytes.
import type { VmEvent } from "../../events/vm-event.js";
import type { VolumeEvent } from "../../events/volume-event.js";
import { isVmState } from "../../vm/vm-state-machine.js";
import { hyperstackStatus } from "./instance.presenter.js";

export interface CallbackBody {
  event_id: string;
  type: string;
  time: string;
  org_id: number;
  /** Who acted; null: Orbit itself. */
  user_id: number | null;
  resource: { type: "virtual_machine" | "volume"; id: number; uuid: string; name: string };
  message: string;
  reason: string;
  state: { from: string; to: string; status: string } | null;
  action: { job_id: number; name: string; error: { code: string; message: string } | null } | null;
}

export function callbackBody(e: VmEvent): CallbackBody {
  return {
    event_id: e.id,
    type: e.type,
    time: e.at.toISOString(),
    org_id: e.vm.accountId,
    user_id: e.userId,
    resource: { type: "virtual_machine", id: e.vm.id, uuid: e.vm.uuid, name: e.vm.name },
    message: e.message,
    reason: e.reason,
    state: e.state ? { ...e.state, status: isVmState(e.state.to) ? hyperstackStatus(e.state.to).status : "UNKNOWN" } : null,
    action: e.action ? { job_id: e.action.jobId, name: e.action.name, error: e.action.error ?? null } : null,
  };
}

/** A volume's event: its status is the volume's own (available, in-use...); no action, no user. */
export function volumeCallbackBody(e: VolumeEvent): CallbackBody {
  return {
    event_id: e.id,
    type: e.type,
    time: e.at.toISOString(),
    org_id: e.volume.accountId,
    user_id: null,
    resource: { type: "volume", id: e.volume.id, uuid: e.volume.uuid, name: e.volume.name },
    message: e.message,
    reason: e.reason,
    state: e.state ? { ...e.state, status: e.state.to } : null,
    action: null,
  };
}
