/**
 * The undici dispatcher every request to the server goes through (claims, heartbeats, results,
 * release downloads): a keep-alive Agent, or undici's own proxy agents with the same connect,
 * headers and body timeouts and TCP keep-alive. No CONNECT handling by hand.
 */
import { Agent, type Dispatcher, EnvHttpProxyAgent, ProxyAgent } from 'undici';
import type { ProxyConfig } from './proxy.ts';

export interface DispatcherOptions {
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  tcpKeepAlive: boolean;
  /** @default direct */
  proxy?: ProxyConfig | undefined;
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const agentOptions = {
    connect: { timeout: options.connectTimeoutMs, keepAlive: options.tcpKeepAlive },
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
  };
  const proxy = options.proxy ?? { kind: 'none', source: 'default' };
  switch (proxy.kind) {
    case 'none':
      return new Agent(agentOptions);
    // proxyTls: the connection to the proxy itself gets the same connect timeout and keep-alive.
    case 'fixed':
      return new ProxyAgent({
        ...agentOptions,
        uri: proxy.url,
        proxyTls: agentOptions.connect,
      });
    case 'environment':
      // Every value is passed in (even ''), so undici does not read process.env itself.
      return new EnvHttpProxyAgent({
        ...agentOptions,
        httpProxy: proxy.httpProxy,
        httpsProxy: proxy.httpsProxy,
        noProxy: proxy.noProxy,
        proxyTls: agentOptions.connect,
      });
  }
}
