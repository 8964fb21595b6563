/**
 * Connection failures a person must act on, said in the worker's terms: which server, what is
 * wrong, and the setting or step that fixes it — on one line. Node's own words would send a
 * worker.exe user to "try running Node.js with --use-system-ca", which they cannot do (the
 * executable already runs with it). Anything not recognised keeps its code and message as is.
 */
import { coerceError, errorCode } from '../platform/errors.ts';

/** OpenSSL's codes for "no trusted CA signed this chain". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

/** undici's words for a proxy that did not open the CONNECT tunnel, or refused a forwarded request. */
const TUNNEL_REFUSED = /Proxy response \((\d{3})\) !== 200 when HTTP Tunneling/;
const FORWARD_REFUSED = /Proxy Authentication Required \((407)\)/;

/**
 * `error` (thrown by a request to `url`) as one line: `<code>: <message>` unless it is a TLS or
 * proxy failure this module knows the fix for. `urlSource` names where the URL came from, for
 * the hints that say to change it (a release may come from a CDN, not from SERVER_URL).
 */
export function describeConnectionError(
  error: unknown,
  url: URL | string,
  urlSource = 'SERVER_URL',
): string {
  const top = coerceError(error);
  const cause = innermost(top);
  const code = errorCode(cause);
  const origin = new URL(url).origin;
  if (code !== undefined && UNTRUSTED.has(code)) {
    return `the TLS certificate of ${origin} is not trusted (${code}): add the CA that signed it to this computer's certificate store, or set CA_FILE to a PEM file holding it`;
  }
  if (code === 'CERT_HAS_EXPIRED') {
    return `the TLS certificate of ${origin} has expired (${code}): the server's certificate must be renewed, or this computer's clock is wrong`;
  }
  if (code === 'CERT_NOT_YET_VALID') {
    return `the TLS certificate of ${origin} is not valid yet (${code}): check this computer's clock`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    // Node's message lists only the names of the kind asked for (IPs for an IP): say them all.
    const names = (cause as { cert?: { subjectaltname?: string } }).cert?.subjectaltname;
    const listed = names === undefined || names === '' ? '' : ` (it names ${names})`;
    return `the TLS certificate of ${origin} is not for that host${listed} (${code}): use a name the certificate lists in ${urlSource}`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return `${origin} does not answer in TLS (${code}): check the scheme (https:// or http://) and port in ${urlSource}`;
  }
  const refused = TUNNEL_REFUSED.exec(cause.message) ?? FORWARD_REFUSED.exec(cause.message);
  if (refused !== null) {
    const status = refused[1];
    const hint =
      status === '407'
        ? ': check the user and password in the proxy URL (PROXY, or HTTPS_PROXY / HTTP_PROXY)'
        : '';
    return `the proxy refused to connect to ${origin} (HTTP ${status})${hint}`;
  }
  const topCode = errorCode(top);
  const label = topCode === undefined ? '' : `${topCode}: `;
  return `${label}${top.message}`.replace(/\s*\n\s*/g, ' ');
}

/**
 * undici wraps a proxy tunnel's failures (SecureProxyConnectionError, ProxyConnectionError, code
 * `UND_ERR_PRX_…`) around the error that says what happened: unwrap those.
 */
function innermost(error: Error): Error {
  let current: Error = error;
  for (let depth = 0; depth < 5 && errorCode(current)?.startsWith('UND_ERR_PRX_'); depth += 1) {
    if (!(current.cause instanceof Error)) break;
    current = current.cause;
  }
  return current;
}
