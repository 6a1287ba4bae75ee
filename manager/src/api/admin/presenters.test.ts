// Fastify serializes answers with their response schema and drops what it does not name: every
// field the admin presenters write must come out unchanged.
import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { CLUSTER_SETTINGS } from "../../placement/host-admin.js";
import { ok } from "../schemas.js";
import { served } from "../testing/served.js";
import { clusterSettingView, clusterView, hostResourceStateView } from "./host-admin.presenter.js";
import { ClusterSettingView, ClusterView, HostResourceStateView } from "./host-admin.schema.js";
import { hostCertificateView } from "./host-certificate.presenter.js";
import { HostCertificateView } from "./host-certificate.schema.js";
import { registrationTokenView } from "./registration-token.presenter.js";
import { RegistrationTokenView } from "./registration-token.schema.js";

const at = new Date("2026-12-04T10:00:00.123Z");
const later = new Date("2026-12-04T11:00:00.456Z");

async function roundTrip(schema: Parameters<typeof ok>[0], body: Record<string, unknown>) {
  const sent = { status: true, message: "m", ...body };
  expect(await served(ok(schema), sent)).toEqual({ status: 200, json: sent });
}

describe("admin presenters", () => {
  it("registration tokens: every field, used or not", async () => {
    const fresh = registrationTokenView({ id: 1, note: "n", state: "active", createdAt: at, expiresAt: later, usedAt: null, usedByHostId: null, revokedAt: null });
    const used = registrationTokenView({ id: 2, note: "", state: "used", createdAt: at, expiresAt: later, usedAt: later, usedByHostId: 9, revokedAt: null });
    expect(used).toMatchObject({ used_at: later.toISOString(), used_by_host_id: 9 });
    await roundTrip({ registration_tokens: Type.Array(RegistrationTokenView) }, { registration_tokens: [fresh, used] });
  });

  it("host certificates: every field, revoked or not", async () => {
    const c = { serial: "0a1b", fingerprintSha256: "ff00", notBefore: at, notAfter: later };
    const views = [hostCertificateView({ ...c, revokedAt: null }), hostCertificateView({ ...c, revokedAt: later })];
    expect(views[1]).toMatchObject({ fingerprint_sha256: "ff00", revoked_at: later.toISOString() });
    await roundTrip({ certificates: Type.Array(HostCertificateView) }, { certificates: views });
  });

  it("clusters with an override of every cluster setting, a host's state, a setting set and removed", async () => {
    expect(CLUSTER_SETTINGS.length).toBeGreaterThan(0);
    const settings = Object.fromEntries(CLUSTER_SETTINGS.map((name, i) => [name, 0.5 + i]));
    await roundTrip({ clusters: Type.Array(ClusterView) }, { clusters: [clusterView({ id: 1, name: "c", pod: "p", environment: "e", settings })] });
    await roundTrip({ host: HostResourceStateView }, { host: hostResourceStateView(3, "Maintenance") });
    await roundTrip({ setting: ClusterSettingView }, { setting: clusterSettingView(1, CLUSTER_SETTINGS[0]!, 1.5) });
    await roundTrip({ setting: ClusterSettingView }, { setting: clusterSettingView(1, CLUSTER_SETTINGS[0]!, null) });
  });
});
