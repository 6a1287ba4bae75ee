#!/usr/bin/env node
// The embedded default (manager on PGlite + a simulated fleet), as `npm start` runs it.
import { register } from "tsx/esm/api";

register();
await import(new URL("../dev/embedded.ts", import.meta.url).href);
