// --wait: polls GET /v1/core/jobs/{id} (or, for an action answered without a job, the VM itself)
// behind a spinner on stderr until the work ends, fails or the timeout passes.
import ora from "ora";
import type { ApiClient } from "./client.js";
import { ApiError, CliError, EXIT } from "./errors.js";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs: number;
  /** Where the spinner goes (stderr): animated on a terminal, one line at start and end otherwise. */
  stream: NodeJS.WritableStream;
}

export interface Job {
  id: number;
  kind: string;
  status: string;
  progress?: number;
  vm_id?: number | null;
  error?: { code?: string; message?: string } | null;
}

/** Server errors and lost connections while polling are retried this many times in a row. */
const MAX_POLL_FAILURES = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function spinner(text: string, o: WaitOptions) {
  return ora({ text, stream: o.stream, discardStdin: false }).start();
}

/** Polls `read` until `done` says so; transient failures are retried, a 4xx ends the wait. */
export async function poll<T>(read: () => Promise<T>, done: (v: T) => boolean, onValue: (v: T) => void, o: WaitOptions, what: () => string): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let failures = 0;
  for (;;) {
    let v: { value: T } | undefined;
    try {
      v = { value: await read() };
      failures = 0;
    } catch (e) {
      if (e instanceof ApiError && e.exitCode === EXIT.api) throw e;
      if (++failures >= MAX_POLL_FAILURES) throw e;
    }
    if (v) {
      onValue(v.value);
      if (done(v.value)) return v.value;
    }
    if (Date.now() >= deadline) throw new CliError(`timed out after ${Math.round(o.timeoutMs / 1000)} s waiting for ${what()}`, EXIT.job);
    await sleep(o.intervalMs);
  }
}

const finished = (j: Job) => j.status === "succeeded" || j.status === "failed";

function jobLine(j: Job): string {
  return `job ${j.id} (${j.kind}) ${j.status}${j.status === "running" && j.progress ? ` ${j.progress}%` : ""}`;
}

/** Waits for every job; when all ended, any that failed makes the wait fail (exit 4) naming each. */
export async function waitForJobs(client: ApiClient, ids: number[], label: string, o: WaitOptions): Promise<Job[]> {
  const jobs = new Map<number, Job>();
  const s = spinner(label, o);
  const status = () => ids.map((id) => (jobs.has(id) ? jobLine(jobs.get(id)!) : `job ${id}`)).join(", ");
  try {
    await poll(
      async () => Promise.all(ids.map(async (id) => {
        const known = jobs.get(id);
        if (known && finished(known)) return known;
        return (await client.get<{ job: Job }>(`/core/jobs/${id}`)).job;
      })),
      (all) => all.every(finished),
      (all) => {
        for (const j of all) jobs.set(j.id, j);
        s.text = `${label}: ${status()}`;
      },
      o, status,
    );
  } catch (e) {
    s.fail(`${label}: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  const all = ids.map((id) => jobs.get(id)!);
  const failed = all.filter((j) => j.status === "failed");
  if (failed.length) {
    const why = failed.map((j) => `job ${j.id} (${j.kind}) failed: ${j.error?.message ?? "no reason given"}`).join("; ");
    s.fail(`${label}: ${why}`);
    throw new CliError(why, EXIT.job);
  }
  s.succeed(`${label}: done`);
  return all;
}

/** For an action answered without a job id: waits for the VM to show `target` (ERROR ends the wait). */
export async function waitForVmStatus(client: ApiClient, vmId: number, target: string, label: string, o: WaitOptions): Promise<void> {
  const s = spinner(label, o);
  let last = "";
  try {
    await poll(
      async () => String((await client.get<{ instance: { status: string } }>(`/core/virtual-machines/${vmId}`)).instance.status),
      (st) => {
        if (st === "ERROR") throw new CliError(`VM ${vmId} is in ERROR`, EXIT.job);
        return st === target;
      },
      (st) => { last = st; s.text = `${label}: ${st}`; },
      o, () => `VM ${vmId} to be ${target} (now ${last || "unknown"})`,
    );
  } catch (e) {
    s.fail(`${label}: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  s.succeed(`${label}: ${target}`);
}

/** For a delete answered without a job id: waits until the VM is gone (its GET answers 404). */
export async function waitForVmGone(client: ApiClient, vmId: number, label: string, o: WaitOptions): Promise<void> {
  const s = spinner(label, o);
  let last = "";
  try {
    await poll(
      async () => {
        try {
          return String((await client.get<{ instance: { status: string } }>(`/core/virtual-machines/${vmId}`)).instance.status);
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) return "gone";
          throw e;
        }
      },
      (st) => {
        if (st === "ERROR") throw new CliError(`VM ${vmId} is in ERROR`, EXIT.job);
        return st === "gone";
      },
      (st) => { last = st; s.text = `${label}: ${st}`; },
      o, () => `VM ${vmId} to be deleted (now ${last || "unknown"})`,
    );
  } catch (e) {
    s.fail(`${label}: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  s.succeed(`${label}: done`);
}

/** For a volume attach or detach answered without a job id (Hyperstack's answer): waits for the volume's status. */
export async function waitForVolumeStatus(client: ApiClient, volumeId: number, target: string, label: string, o: WaitOptions): Promise<void> {
  const s = spinner(label, o);
  let last = "";
  try {
    await poll(
      async () => String((await client.get<{ volume: { status: string } }>(`/core/volumes/${volumeId}`)).volume.status),
      (st) => {
        if (st === "error") throw new CliError(`volume ${volumeId} is in error`, EXIT.job);
        return st === target;
      },
      (st) => { last = st; s.text = `${label}: ${st}`; },
      o, () => `volume ${volumeId} to be ${target} (now ${last || "unknown"})`,
    );
  } catch (e) {
    s.fail(`${label}: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  s.succeed(`${label}: ${target}`);
}
