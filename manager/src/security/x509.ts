// @peculiar/x509 with its prerequisites: the Reflect polyfill (its DI container needs it, and it
// must be loaded before the library) and Node's WebCrypto as the crypto provider.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);

export { x509 };
