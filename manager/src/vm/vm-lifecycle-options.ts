// What a create and a delete may ask about a VM's life beside its shape: KubeVirt's run strategy
// and CloudSigma's recurse. Plain values, shared by the service, the jobs and the API's schemas.

/**
 * KubeVirt's run strategies. Halted: created stopped. Always, RerunOnFailure: the VM is to be
 * restarted when it stops (Always) or fails (RerunOnFailure): stored now, done by HA (issue 15).
 * Manual: only the user starts and stops it (what Orbit does for every VM today).
 */
export const RUN_STRATEGIES = ["Always", "RerunOnFailure", "Manual", "Halted"] as const;
export type RunStrategy = (typeof RUN_STRATEGIES)[number];

/** CloudSigma's recurse on a VM delete: which attached drives go with it (none: all are detached and kept). */
export const DESTROY_RECURSE = ["none", "all_drives", "disks", "cdroms"] as const;
export type DestroyRecurse = (typeof DESTROY_RECURSE)[number];
