/**
 * A TLS-inspecting forward proxy, as companies run them: it answers CONNECT, ends the worker's
 * TLS itself with a certificate its own CA signs for the requested host, and opens a TLS
 * connection of its own to the real server (trusting `upstreamCa`). The worker never sees the
 * server's certificate, only the proxy's — which is why such a proxy's CA must be trusted (IT
 * puts it in the system store). Requests are recorded as `METHOD host:port/path`.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect, TLSSocket } from 'node:tls';
import type { TestCa } from './tls.ts';

export async function startInspectingProxy(
  inspectCa: TestCa,
  upstreamCa: string,
): Promise<{ proxy: Server; port: number; seen: string[] }> {
  // One certificate for the loopback names the tests use; a real proxy mints one per host.
  const leaf = inspectCa.issue();
  const seen: string[] = [];
  const proxy = createServer();
  proxy.on('connect', (req, clientSocket: Socket) => {
    const [host = '', port = '443'] = (req.url ?? '').split(':');
    clientSocket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    const inner = new TLSSocket(clientSocket, { isServer: true, cert: leaf.cert, key: leaf.key });
    const upstream = connect({ host, port: Number(port), ca: upstreamCa, servername: undefined });
    // Read the decrypted requests' first lines, as an inspecting proxy would log them.
    inner.on('data', (chunk: Buffer) => {
      const line = /^([A-Z]+) (\S+) HTTP\/1\.1/.exec(chunk.toString('latin1'));
      if (line !== null) seen.push(`${line[1]} ${req.url}${line[2]}`);
    });
    inner.pipe(upstream).pipe(inner);
    const close = () => {
      inner.destroy();
      upstream.destroy();
    };
    inner.on('error', close);
    upstream.on('error', close);
    inner.on('close', close);
    upstream.on('close', close);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return { proxy, port: (proxy.address() as AddressInfo).port, seen };
}
