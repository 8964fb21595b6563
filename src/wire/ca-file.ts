/**
 * CA_FILE: CA certificates trusted for the server, release downloads and an https:// proxy ON TOP
 * of the default roots (a private CA must not un-trust what the system store trusts). Read once by
 * src/settings/load.ts; no node:tls here, so --status and --help never read the system store.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface CaFile {
  /** Absolute path, for the banner and messages. */
  readonly path: string;
  /** The certificates, one PEM block each. */
  readonly certificates: readonly string[];
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Reads and checks a CA file: it must hold at least one PEM certificate and every one must parse.
 * Returns the reason as text (for the settings' one-line problem) instead of throwing.
 */
export function loadCaFile(path: string): CaFile | { problem: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: `cannot read it (${code ?? (error as Error).message})` };
  }
  const certificates = text.match(PEM_BLOCK) ?? [];
  if (certificates.length === 0) {
    return { problem: 'it holds no "-----BEGIN CERTIFICATE-----" block (PEM expected, not DER)' };
  }
  for (const [index, pem] of certificates.entries()) {
    try {
      new X509Certificate(pem);
    } catch (error) {
      return { problem: `certificate ${index + 1} does not parse (${(error as Error).message})` };
    }
  }
  return { path, certificates };
}

/**
 * The CA_FILE setting as configured ('' = none), with where it came from: a relative path is taken
 * from the install folder, as DATA_DIR's is. A problem is pushed as one line, not thrown.
 */
export function readCaFileSetting(
  configured: string,
  installDir: string,
  source: string,
  problems: string[],
): CaFile | undefined {
  if (configured.trim() === '') return undefined;
  const loaded = loadCaFile(resolve(installDir, configured));
  if ('problem' in loaded) {
    problems.push(
      `Expected CA_FILE to be a PEM file of CA certificates, got ${JSON.stringify(configured)} (from ${source}): ${loaded.problem}`,
    );
    return undefined;
  }
  return loaded;
}
