/**
 * One CommonJS file for `main` of the SEA: the entry with src/ and tasks/ bundled by esbuild, the
 * build facts (`__HIVE_BUILD__`) written in as a literal. Only Node built-ins stay `require`s: a
 * single executable cannot load anything else at run time, so any other leftover stops the build.
 */
import { builtinModules } from 'node:module';
import * as esbuild from 'esbuild';
import { BuildError } from './config.ts';

/**
 * undici loads node:http2 as it starts (for HTTP/2, which it uses only with `allowH2`, and the
 * worker never sets it), and http2 brings TLS up with it: memory an idle worker holds for nothing
 * (docs/performance.md). In the bundle, undici's
 * `require('node:http2')` throws instead, and undici carries on without HTTP/2 — its own fallback
 * for runtimes that lack http2 (lib/dispatcher/client-h2.js). node:tls still loads when an
 * https:// URL needs it.
 */
const undiciWithoutHttp2: esbuild.Plugin = {
  name: 'undici-without-http2',
  setup(build) {
    build.onResolve({ filter: /^node:http2$/ }, (args) =>
      /[\\/]node_modules[\\/]undici[\\/]/.test(args.importer)
        ? { path: 'http2', namespace: 'hive-no-http2' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'hive-no-http2' }, () => ({
      contents: "throw new Error('node:http2 is left out of the worker (undici without allowH2)');",
      loader: 'js',
    }));
  },
};

export interface BuildFacts {
  version: string;
  releasePublicKey: string;
  builtAt: string;
}

export async function bundle(options: {
  entry: string;
  outFile: string;
  nodeMajor: number;
  facts: BuildFacts;
}): Promise<void> {
  const result = await esbuild.build({
    entryPoints: [options.entry],
    outfile: options.outFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${options.nodeMajor}`,
    define: { __HIVE_BUILD__: JSON.stringify(options.facts) },
    legalComments: 'none',
    metafile: true,
    plugins: [undiciWithoutHttp2],
    logLevel: 'silent',
  });
  const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
  const external = Object.values(result.metafile.outputs)
    .flatMap((output) => output.imports)
    .filter((imported) => imported.external && !builtins.has(imported.path))
    .map((imported) => imported.path);
  if (external.length > 0) {
    throw new BuildError(
      `the bundle would load ${[...new Set(external)].join(', ')} from disk at run time, which a ` +
        'single executable cannot: import it statically so esbuild bundles it',
    );
  }
}

/** Any esbuild failure, as one readable message. */
export function describeBundleError(error: unknown): string | undefined {
  const failure = error as Partial<esbuild.BuildFailure>;
  if (!Array.isArray(failure.errors)) return undefined;
  return failure.errors
    .map((message) => {
      const where = message.location
        ? `${message.location.file}:${message.location.line}:${message.location.column}: `
        : '';
      return `${where}${message.text}`;
    })
    .join('\n');
}
