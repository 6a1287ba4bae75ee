// Trust on first use: reads the manager's CA from the certificate chain its TLS endpoint sends
// (leaf + CA), before anything secret is sent. The CA is then used like a configured one, so the
// registration itself runs over a fully verified channel, and is pinned afterwards.
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { connect, type DetailedPeerCertificate } from "node:tls";

function hostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`manager address "${address}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

export function probeManagerCa(address: string, opts: { serverName?: string | undefined; timeoutMs?: number } = {}): Promise<string> {
  const { host, port } = hostPort(address);
  const servername = opts.serverName ?? (isIP(host) ? undefined : host);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ...(servername ? { servername } : {}), rejectUnauthorized: false, ALPNProtocols: ["h2"] }, () => {
      const peer: DetailedPeerCertificate = socket.getPeerCertificate(true);
      socket.destroy();
      const issuer = peer.issuerCertificate;
      if (!peer.raw || !issuer?.raw || issuer.raw.equals(peer.raw)) {
        reject(new Error("the manager's TLS endpoint did not send its CA certificate"));
        return;
      }
      const ca = new X509Certificate(issuer.raw);
      const leaf = new X509Certificate(peer.raw);
      if (!ca.ca || !leaf.checkIssued(ca) || !leaf.verify(ca.publicKey) || !ca.verify(ca.publicKey)) {
        reject(new Error("the manager's TLS chain is not a certificate issued by a self-signed CA"));
        return;
      }
      resolve(ca.toString());
    });
    socket.setTimeout(opts.timeoutMs ?? 10_000, () => socket.destroy(new Error(`no TLS answer from ${address}`)));
    socket.on("error", reject);
  });
}
