/** A real forward proxy on 127.0.0.1 (the npm package `proxy`), for tests that need one. */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxy, type ProxyServer } from 'proxy';

export const PASSWORD = 's3cret-proxy-pw';
export const isProxied = (req: IncomingMessage) => /\(proxy\//.test(String(req.headers.via ?? ''));

/**
 * A forward proxy that wants `hive:<PASSWORD>` and counts what it forwards (CONNECT tunnels as
 * `CONNECT host:port`). `localAddress`: the address its own connections to servers come from —
 * an HTTPS server sees no `Via` header inside a tunnel, but can tell 127.0.0.2 from 127.0.0.1.
 */
export async function startProxy(
  port = 0,
  options: { localAddress?: string } = {},
): Promise<{ proxy: ProxyServer; port: number; requests: string[] }> {
  const proxy = createProxy(createServer());
  const requests: string[] = [];
  proxy.authenticate = (req) =>
    req.headers['proxy-authorization'] ===
    `Basic ${Buffer.from(`hive:${PASSWORD}`).toString('base64')}`;
  if (options.localAddress !== undefined) proxy.localAddress = options.localAddress;
  const record = (req: IncomingMessage) => requests.push(`${req.method} ${req.url}`);
  proxy.on('request', record);
  proxy.on('connect', record);
  proxy.listen(port, '127.0.0.1');
  await once(proxy, 'listening');
  return { proxy, port: (proxy.address() as AddressInfo).port, requests };
}
