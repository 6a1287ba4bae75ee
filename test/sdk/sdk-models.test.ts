// The model checker finds what it must: wrong types at any depth, enum values outside the SDK's
// enum, missing fields when asked for completeness; it accepts null and extra fields.
import { describe, expect, it } from "vitest";
import { modelFields, modelProblems } from "./sdk-models.js";

const region = { id: 1, name: "CANADA-1", country: "Canada", description: "", features: {}, green_status: "GREEN" };

describe("modelProblems against the SDK's declared models", () => {
  it("accepts a complete answer with the declared types, extra fields and nulls", () => {
    expect(modelProblems("Regions", { status: true, message: "ok", regions: [region], extra: 1 }, { complete: true })).toEqual([]);
    expect(modelProblems("Regions", { status: true, message: null, regions: [{ ...region, description: null }] }, { complete: true })).toEqual([]);
  });

  it("names each wrong type with its path, at any depth", () => {
    expect(modelProblems("Regions", { status: "true", regions: [{ ...region, id: "1", features: [] }, 3] }, { complete: false })).toEqual([
      "$.regions[0].features: expected object, got array",
      "$.regions[0].id: expected number, got string",
      "$.regions[1]: expected object, got number",
      "$.status: expected boolean, got string",
    ]);
    expect(modelProblems("Instances", { instances: [{ labels: ["a", 2], flavor: { cpu: "2" } }] }, { complete: false })).toEqual([
      "$.instances[0].flavor.cpu: expected number, got string",
      "$.instances[0].labels[1]: expected string, got number",
    ]);
  });

  it("refuses a value outside an SDK enum", () => {
    expect(modelProblems("RegionFields", { ...region, green_status: "BLUE" }, { complete: false }))
      .toEqual(['$.green_status: "BLUE" is not one of ["GREEN","PARTIALLY_GREEN","NOT_GREEN"]']);
  });

  it("lists missing fields only when asked for completeness", () => {
    const partial = { status: true, regions: [{ id: 1, name: "CANADA-1" }] };
    expect(modelProblems("Regions", partial, { complete: false })).toEqual([]);
    expect(modelProblems("Regions", partial, { complete: true })).toEqual([
      "$.message: missing",
      "$.regions[0].country: missing",
      "$.regions[0].description: missing",
      "$.regions[0].features: missing",
      "$.regions[0].green_status: missing",
    ]);
  });

  it("knows the SDK's models and refuses a name it does not declare", () => {
    expect(modelFields("ErrorResponseModel").sort()).toEqual(["error_reason", "message", "status"]);
    expect(() => modelProblems("NoSuchModel", {}, { complete: false })).toThrow(/no model NoSuchModel/);
  });
});
