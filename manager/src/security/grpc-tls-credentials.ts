// Server credentials for the agent gateway with an OPTIONAL client certificate: Register must be
// reachable by a host that has no certificate yet, so TLS asks for one (requestCert) but lets the
// handshake through without it (rejectUnauthorized false). A presented certificate is still
// verified against our CA by TLS, and grpc-js only reports a verified peer certificate in
// call.getAuthContext(); the gateway enforces it per call. grpc.ServerCredentials.createSsl
// cannot express this (false: no certificate is requested; true: it is required), so this uses
// grpc-js's certificate-provider credentials (experimental API, stable since 1.10).
import * as grpc from "@grpc/grpc-js";
import type { CertificateAuthority } from "./certificate-authority.js";

type Provider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * A provider of fixed PEMs, serving both the CA and the identity roles. It answers on the next
 * tick, as grpc-js's file watcher does: grpc-js subscribes to providers before it registers the
 * server's watcher, so an answer given synchronously would never reach the server.
 */
class StaticCertificateProvider implements Provider {
  constructor(private readonly ca: Buffer, private readonly cert: Buffer, private readonly key: Buffer) {}
  addCaCertificateListener(l: CaListener): void { process.nextTick(() => l({ caCertificate: this.ca })); }
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(l: IdentityListener): void { process.nextTick(() => l({ certificate: this.cert, privateKey: this.key })); }
  removeIdentityCertificateListener(): void {}
}

export function optionalClientCertServerCredentials(pem: { caPem: string; certPem: string; keyPem: string }): grpc.ServerCredentials {
  // The chain includes the CA so an agent without a configured CA can learn it (trust on first use).
  const chain = `${pem.certPem.trimEnd()}\n${pem.caPem}`;
  const p = new StaticCertificateProvider(Buffer.from(pem.caPem), Buffer.from(chain), Buffer.from(pem.keyPem));
  // One provider in both roles: grpc-js 1.14 passes these two arguments to its constructor in
  // the opposite order, which is harmless only when they are the same object.
  return grpc.experimental.createCertificateProviderServerCredentials(p, p, false);
}

/**
 * The gateway's credentials: each manager gets its own server certificate at start, signed by the
 * shared CA, for the loopback names, `extraNames` and the listen host (unless a wildcard).
 */
export async function gatewayServerCredentials(ca: CertificateAuthority, listenHost: string, extraNames: readonly string[]): Promise<grpc.ServerCredentials> {
  const names = ["127.0.0.1", "localhost", ...extraNames, ...(/^(0\.0\.0\.0|::)$/.test(listenHost) ? [] : [listenHost])];
  const server = await ca.issueServerCertificate(names);
  return optionalClientCertServerCredentials({ caPem: ca.certPem, ...server });
}
