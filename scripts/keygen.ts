/**
 * `npm run keygen -- --out <dir>`: makes an Ed25519 release key pair.
 * Writes <dir>/release-key.pem (PKCS#8, mode 0600) and <dir>/release-key.pub (raw 32 bytes,
 * base64url, one line), prints the public key, and never overwrites an existing key.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

function main(): number {
  const { values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true || values.out === undefined) {
    console.error(
      'usage: npm run keygen -- --out <dir>\n  writes <dir>/release-key.pem (private, 0600) and <dir>/release-key.pub',
    );
    return values.help === true ? 0 : 2;
  }
  const dir = resolve(values.out);
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const pub = publicKey.export({ format: 'jwk' }).x;
  if (pub === undefined) throw new Error('could not export the public key');
  try {
    // 'wx': refuse to overwrite — losing a release key strands every installed worker.
    writeFileSync(join(dir, 'release-key.pem'), pem, { flag: 'wx', mode: 0o600 });
    writeFileSync(join(dir, 'release-key.pub'), `${pub}\n`, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      console.error(`keygen: a key already exists in ${dir}; refusing to overwrite it`);
      return 1;
    }
    throw error;
  }
  console.log(pub);
  console.error(
    `keygen: wrote ${join(dir, 'release-key.pem')} (keep it secret, outside the repo) and ${join(dir, 'release-key.pub')}.\n` +
      'Pin the public key in build.config.json "releasePublicKey" (or HIVE_RELEASE_PUBLIC_KEY for one build).',
  );
  return 0;
}

process.exitCode = main();
