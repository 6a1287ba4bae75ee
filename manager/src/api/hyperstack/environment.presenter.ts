// Regions and environments in Hyperstack's dialect (key pairs show their environment this way too).
import type { Environment, Region } from "../../environments/environment-service.js";
import type { EnvironmentView, RegionView } from "./environment.schema.js";

// Orbit knows nothing of its regions' energy or network: Hyperstack's "no" answers, stated as such in the schema.
const NOT_GREEN = "NOT_GREEN" as const;

export function environmentView(e: Environment): EnvironmentView {
  return {
    id: e.id, name: e.name, region: e.region,
    features: { network_optimised: false, green_status: NOT_GREEN },
    created_at: e.createdAt.toISOString(),
  };
}

export function regionView(r: Region): RegionView {
  return { id: r.id, name: r.name, description: r.description, country: "", green_status: NOT_GREEN, features: {} };
}
