import { describe, expect, it } from "vitest";
import { releasesCapacity } from "./vm-job-failure.js";

describe("what a failed VM job does with the VM's capacity", () => {
  it("releases it when the host refused the deploy (it used nothing)", () => {
    expect(releasesCapacity("vm.deploy", { code: "hypervisor_error", message: "no", retryable: false })).toBe(true);
  });

  it("keeps it when the host may still run the domain", () => {
    // The host never answered: the domain may be running.
    expect(releasesCapacity("vm.deploy", { code: "agent_unavailable", message: "gone", retryable: true })).toBe(false);
    // A destroy that did not finish leaves the domain where it was, whatever the error.
    expect(releasesCapacity("vm.destroy", { code: "hypervisor_error", message: "no", retryable: false })).toBe(false);
    expect(releasesCapacity("vm.destroy", { code: "deadline_exceeded", message: "slow", retryable: true })).toBe(false);
  });
});
