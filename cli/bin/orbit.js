#!/usr/bin/env node
// The user's CLI: runs the TypeScript sources through tsx, as the other bin/ launchers do.
import { register } from "tsx/esm/api";

register();
await import(new URL("../src/main.ts", import.meta.url).href);
