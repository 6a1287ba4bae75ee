#!/usr/bin/env node
// Runs the TypeScript sources through tsx (no separate build step).
import { register } from "tsx/esm/api";

register();
await import(new URL("../src/sim/main.ts", import.meta.url).href);
