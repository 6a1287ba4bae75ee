// orbit config set url|api-key VALUE, orbit config show: the config file, no server needed.
import { type Command, Argument } from "commander";
import { CONFIG_KEYS, type ConfigKey, configPath, DEFAULT_URL, readConfig, writeConfigValue } from "../config.js";
import type { Io } from "../context.js";
import { printFields } from "../output.js";

const mask = (key: string | undefined) => (key ? `${key.slice(0, 8)}…` : undefined);

export function configCommands(program: Command, io: Io): void {
  const config = program.command("config").description("the saved URL and API key ($XDG_CONFIG_HOME/orbit/config.json, else ~/.config/orbit/config.json)");

  config.command("set").description("save the API's URL or your API key")
    .addArgument(new Argument("<key>", "what to set").choices(Object.keys(CONFIG_KEYS)))
    .argument("<value>", "its value")
    .action((key: ConfigKey, value: string) => {
      const file = configPath(io.env);
      writeConfigValue(file, key, value);
      io.stderr.write(`${key} saved in ${file}\n`);
    });

  config.command("show").description("show the saved configuration (the key shortened)")
    .action(() => {
      const file = configPath(io.env);
      const c = readConfig(file);
      printFields(io.stdout, [["file", file], ["url", c.url ?? `${DEFAULT_URL} (default)`], ["api-key", mask(c.api_key)]]);
    });
}
