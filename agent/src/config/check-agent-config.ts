// `node --import tsx agent/src/config/check-agent-config.ts FILE`: validates an agent.yaml with the
// agent's own schema without starting anything (Ansible's template `validate:` runs it).
import { isOrbitError } from "#shared/errors.js";
import { loadAgentConfig } from "./agent-config.js";

const file = process.argv[2];
if (file === undefined || process.argv.length > 3) {
  console.error("usage: check-agent-config.ts FILE");
  process.exit(2);
}
try {
  // Only the file: environment overrides are the running service's business, not the file's.
  const config = loadAgentConfig({ argv: ["--config", file], env: {} });
  console.log(`${file}: OK (manager${config.managers.length > 1 ? "s" : ""} ${config.managers.join(", ")}, driver ${config.driver})`);
} catch (e) {
  console.error(isOrbitError(e) ? e.message : String(e));
  process.exit(1);
}
