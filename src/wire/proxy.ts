/**
 * Which forward proxy requests go through, decided once at start: PROXY (a URL, or `direct`) wins
 * over HTTP_PROXY / HTTPS_PROXY / NO_PROXY (lower-case names first). Plain data: ./dispatcher.ts
 * makes the dispatcher; src/settings/load.ts passes the environment in.
 */

export type ProxyConfig =
  | { readonly kind: 'none'; readonly source: string }
  | { readonly kind: 'fixed'; readonly url: string; readonly source: string }
  | {
      readonly kind: 'environment';
      /** '' = http:// requests go direct. */
      readonly httpProxy: string;
      /** '' = https:// requests go through httpProxy (direct if that is '' too). */
      readonly httpsProxy: string;
      readonly noProxy: string;
      /** The variables the values came from, for the banner. */
      readonly source: string;
    };

/** The environment variables read, in the order they are looked at. */
const ENV_NAMES = {
  http: ['http_proxy', 'HTTP_PROXY'],
  https: ['https_proxy', 'HTTPS_PROXY'],
  noProxy: ['no_proxy', 'NO_PROXY'],
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Resolves the proxy from PROXY (already read by settings, with where it came from) and the
 * environment. Returns one problem line per bad value instead of throwing.
 */
export function resolveProxy(
  setting: { value: string; source: string },
  env: Env,
): { proxy: ProxyConfig; problems: string[] } {
  const problems: string[] = [];
  const value = setting.value.trim();
  if (value.toLowerCase() === 'direct') {
    return { proxy: { kind: 'none', source: `PROXY=direct from ${setting.source}` }, problems };
  }
  if (value !== '') {
    const url = normaliseProxyUrl(value, 'PROXY', setting.source, problems);
    return { proxy: { kind: 'fixed', url, source: setting.source }, problems };
  }
  const read = (names: readonly string[]) => {
    for (const name of names) {
      const found = env[name]?.trim();
      if (found) return { name, found };
    }
    return undefined;
  };
  const http = read(ENV_NAMES.http);
  const https = read(ENV_NAMES.https);
  if (http === undefined && https === undefined) {
    return { proxy: { kind: 'none', source: 'no proxy variables set' }, problems };
  }
  const noProxy = read(ENV_NAMES.noProxy);
  const proxy: ProxyConfig = {
    kind: 'environment',
    httpProxy: http ? normaliseProxyUrl(http.found, http.name, http.name, problems) : '',
    httpsProxy: https ? normaliseProxyUrl(https.found, https.name, https.name, problems) : '',
    noProxy: noProxy?.found ?? '',
    source: [http?.name, https?.name, noProxy?.name].filter(Boolean).join(', '),
  };
  return { proxy, problems };
}

/** `proxy.corp:3128` means `http://proxy.corp:3128`; only http(s) proxies. */
function normaliseProxyUrl(raw: string, name: string, source: string, problems: string[]): string {
  const text = raw.includes('://') ? raw : `http://${raw}`;
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
    problems.push(
      `Expected ${name} to be an http:// or https:// proxy URL like http://proxy.corp:3128, got ${JSON.stringify(hideCredentials(raw))} (from ${source})`,
    );
    return '';
  }
  return text;
}

/** The URL with any user and password replaced by `***`: what logs and the banner show. */
export function hideCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/** Every form a proxy credential may take in text: the logger scrubs all of them. */
export function proxySecrets(proxy: ProxyConfig): string[] {
  const urls =
    proxy.kind === 'fixed'
      ? [proxy.url]
      : proxy.kind === 'environment'
        ? [proxy.httpProxy, proxy.httpsProxy]
        : [];
  const secrets: string[] = [];
  for (const url of urls) {
    if (!URL.canParse(url)) continue;
    const { username, password } = new URL(url);
    if (username === '' && password === '') continue;
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(url)?.[1];
    for (const secret of [userinfo, password, safeDecode(password)]) {
      if (secret) secrets.push(secret);
    }
  }
  return [...new Set(secrets)];
}

/** One line for the banner: which proxy is used, credentials hidden, and why. */
export function describeProxy(proxy: ProxyConfig): string {
  switch (proxy.kind) {
    case 'none':
      return `none (${proxy.source})`;
    case 'fixed':
      return `${hideCredentials(proxy.url)} (from ${proxy.source})`;
    case 'environment': {
      const http = proxy.httpProxy === '' ? 'direct' : hideCredentials(proxy.httpProxy);
      const https = proxy.httpsProxy === '' ? http : hideCredentials(proxy.httpsProxy);
      const parts = http === https ? [http] : [`http: ${http}`, `https: ${https}`];
      if (proxy.noProxy !== '') parts.push(`except ${proxy.noProxy}`);
      return `${parts.join(', ')} (from ${proxy.source})`;
    }
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
