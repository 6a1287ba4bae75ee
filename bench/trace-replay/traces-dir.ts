// Where the trace replay finds Alibaba's GPU cluster trace. The files are research-only fixtures
// (no licence for redistribution), so they are never in the repository: the user names a folder.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const WHERE_TO_GET_TRACES =
  "the openb_*.csv files of Alibaba's cluster-trace-gpu-v2023 (github.com/alibaba/clusterdata, cluster-trace-gpu-v2023/csv) " +
  "and fgd-atc23-expected-unallocated.csv (the FGD paper's results, aggregated from hkust-adsl/kubernetes-scheduler-simulator " +
  "experiments/analysis/expected_results); the team keeps them in ../shared/fixtures/traces";

export class TracesDirError extends Error {}

/** The folder from --traces-dir, else ORBIT_TRACES_DIR; throws a one-line TracesDirError when unset or incomplete. */
export function resolveTracesDir(flag: string | undefined, env: Record<string, string | undefined>, needed: readonly string[]): string {
  const given = flag ?? env.ORBIT_TRACES_DIR;
  if (given === undefined || given === "") {
    throw new TracesDirError(`no trace folder: pass --traces-dir DIR or set ORBIT_TRACES_DIR to a folder holding ${WHERE_TO_GET_TRACES}`);
  }
  const dir = resolve(given);
  const missing = needed.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new TracesDirError(`${dir} lacks ${missing.join(", ")}: the trace folder must hold ${WHERE_TO_GET_TRACES}`);
  }
  return dir;
}
