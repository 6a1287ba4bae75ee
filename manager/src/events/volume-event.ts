// A volume's events for its callback URL: created, each status change, deleted. Built where the
// change is written (storage/volume-status.ts), in its transaction, like a VM's.
export type VolumeEventType = "created" | "state_changed" | "deleted";

/** The volume an event is about (as it was when the event was built). */
export interface VolumeRef { id: number; uuid: string; name: string; accountId: number }

export interface VolumeEvent {
  /** Unique: "volume:<id>:created", "volume:<id>:status:<uuid>", "volume:<id>:deleted". */
  id: string;
  type: VolumeEventType;
  volume: VolumeRef;
  at: Date;
  message: string;
  reason: string;
  /** For state_changed: the volume statuses (Hyperstack's: available, attaching, in-use, detaching...). */
  state?: { from: string; to: string };
}
