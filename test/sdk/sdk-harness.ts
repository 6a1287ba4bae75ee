// Hyperstack's official TypeScript SDK pointed at a test cloud (test/e2e/harness.ts: an in-process
// manager with simulated hosts over real gRPC on loopback), configured as a Hyperstack user
// configures it: a base path ending in /v1 and the `api_key` header.
import {
  CallbacksApi, Configuration, EnvironmentApi, FlavorApi, FloatingIpApi, ImageApi, KeypairApi, RegionApi,
  SecurityRulesApi, SnapshotEventsApi, SnapshotsApi, VirtualMachineApi, VirtualMachineEventsApi, VncUrlApi, VolumeApi,
  VolumeAttachmentApi,
} from "@nexgencloud/hyperstack-sdk-typescript";
import { expect, it } from "vitest";
import type { TestCloud } from "../e2e/harness.js";
import { modelProblems } from "./sdk-models.js";

export { ADMIN_KEY, createUserKey, jobsIdle, startTestCloud, type TestCloud } from "../e2e/harness.js";

/** The SDK's API classes a first session uses (issues 12-15), all sharing one configuration. */
export interface SdkClient {
  vms: VirtualMachineApi;
  vmEvents: VirtualMachineEventsApi;
  environments: EnvironmentApi;
  regions: RegionApi;
  flavors: FlavorApi;
  images: ImageApi;
  keypairs: KeypairApi;
  volumes: VolumeApi;
  volumeAttachments: VolumeAttachmentApi;
  floatingIps: FloatingIpApi;
  securityRules: SecurityRulesApi;
  snapshots: SnapshotsApi;
  snapshotEvents: SnapshotEventsApi;
  callbacks: CallbacksApi;
  console: VncUrlApi;
}

export function sdkClient(cloud: TestCloud, apiKey: string): SdkClient {
  const config = new Configuration({ apiKey, basePath: `${cloud.manager.apiUrl}/v1` });
  return {
    vms: new VirtualMachineApi(config),
    vmEvents: new VirtualMachineEventsApi(config),
    environments: new EnvironmentApi(config),
    regions: new RegionApi(config),
    flavors: new FlavorApi(config),
    images: new ImageApi(config),
    keypairs: new KeypairApi(config),
    volumes: new VolumeApi(config),
    volumeAttachments: new VolumeAttachmentApi(config),
    floatingIps: new FloatingIpApi(config),
    securityRules: new SecurityRulesApi(config),
    snapshots: new SnapshotsApi(config),
    snapshotEvents: new SnapshotEventsApi(config),
    callbacks: new CallbacksApi(config),
    console: new VncUrlApi(config),
  };
}

/** What a refused SDK call carried: axios rejects every non-2xx answer with the response attached. */
export interface Refusal { status: number; data: Record<string, any> }

/** Awaits an SDK call that must be refused by the server and returns its status and body. */
export async function refusal(call: Promise<unknown>): Promise<Refusal> {
  let answer: unknown;
  try {
    answer = await call;
  } catch (err) {
    const response = (err as { isAxiosError?: boolean; response?: { status: number; data: unknown } }).response;
    if (!(err as { isAxiosError?: boolean }).isAxiosError || !response) throw err;
    return { status: response.status, data: response.data as Record<string, any> };
  }
  const { status, data } = answer as { status: number; data: unknown };
  throw new Error(`expected a refusal, got ${status}: ${JSON.stringify(data).slice(0, 300)}`);
}

/**
 * A step Orbit does not pass yet: skipped, with the gap named in its title (and listed in
 * COVERAGE.md). ORBIT_SDK_GAPS=1 runs them instead, to see which gaps a change has closed.
 */
export function gap(title: string, reason: string, fn: () => Promise<void>, timeoutMs?: number): void {
  (process.env.ORBIT_SDK_GAPS ? it : it.skip)(`${title} [gap: ${reason}]`, fn, timeoutMs);
}

/** The value conforms to the SDK's model: declared fields have their types; with `complete`, all are present. */
export function expectModel(model: string, value: unknown, complete = false): void {
  expect(modelProblems(model, value, { complete }), `${model}${complete ? " (complete)" : ""}`).toEqual([]);
}
