/**
 * The dispatcher every request goes through, release downloads included: a keep-alive Agent, or
 * undici's own proxy agents with the same timeouts and TLS trust. No CONNECT handling by hand.
 */
import { createSecureContext, getCACertificates, type SecureContext } from 'node:tls';
import { Agent, type Dispatcher, EnvHttpProxyAgent, ProxyAgent } from 'undici';
import type { ProxyConfig } from './proxy.ts';

export interface DispatcherOptions {
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  tcpKeepAlive: boolean;
  /** @default direct */
  proxy?: ProxyConfig | undefined;
  /** CA_FILE's certificates, trusted on top of the default roots (./ca-file.ts). @default none */
  caCertificates?: readonly string[] | undefined;
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const secureContext = trustContext(options.caCertificates);
  // The same TLS trust for the server (direct or through a CONNECT tunnel) and an https:// proxy.
  const connect = {
    timeout: options.connectTimeoutMs,
    keepAlive: options.tcpKeepAlive,
    ...(secureContext === undefined ? {} : { secureContext }),
  };
  const agentOptions = {
    connect,
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
  };
  const proxy = options.proxy ?? { kind: 'none', source: 'default' };
  switch (proxy.kind) {
    case 'none':
      return new Agent(agentOptions);
    // proxyTls: the connection to the proxy itself; requestTls: the server's TLS inside the tunnel.
    case 'fixed':
      return new ProxyAgent({
        ...agentOptions,
        uri: proxy.url,
        proxyTls: connect,
        requestTls: connect,
      });
    case 'environment':
      // Every value is passed in (even ''), so undici does not read process.env itself.
      return new EnvHttpProxyAgent({
        ...agentOptions,
        httpProxy: proxy.httpProxy,
        httpsProxy: proxy.httpsProxy,
        noProxy: proxy.noProxy,
        proxyTls: connect,
        requestTls: connect,
      });
  }
}

/**
 * One TLS context trusting the default roots plus `extra` (undefined without extra: Node's own
 * applies). Made once: a `ca` option per connection would parse the default roots each time.
 */
function trustContext(extra: readonly string[] | undefined): SecureContext | undefined {
  if (extra === undefined || extra.length === 0) return undefined;
  return createSecureContext({ ca: [...getCACertificates('default'), ...extra] });
}
