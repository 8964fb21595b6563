/**
 * Facts fixed when the executable is built. scripts/build.ts replaces `__HIVE_BUILD__` with a
 * literal (esbuild `define`); running from source, they come from package.json/build.config.json
 * as a build would take them (HIVE_RELEASE_PUBLIC_KEY replaces the pinned key, as at build time).
 */
import buildConfig from '../build.config.json' with { type: 'json' };
import { WORKER_VERSION } from './config.ts';

declare const __HIVE_BUILD__:
  | { version: string; releasePublicKey: string; builtAt: string }
  | undefined;

export interface BuildInfo {
  /** The version this build reports: WORKER_VERSION unless built with `--version`. */
  readonly version: string;
  /** base64url of the raw 32-byte Ed25519 key that release signatures must verify against. */
  readonly releasePublicKey: string;
  /** True inside a single executable, false when running from source. */
  readonly isExecutable: boolean;
  /** ISO time of the sources built (SOURCE_DATE_EPOCH or the last commit); '' from source. */
  readonly builtAt: string;
}

export const BUILD_INFO: BuildInfo = Object.freeze(
  typeof __HIVE_BUILD__ === 'undefined'
    ? {
        version: WORKER_VERSION,
        releasePublicKey: process.env.HIVE_RELEASE_PUBLIC_KEY || buildConfig.releasePublicKey,
        isExecutable: false,
        builtAt: '',
      }
    : {
        version: __HIVE_BUILD__.version,
        releasePublicKey: __HIVE_BUILD__.releasePublicKey,
        isExecutable: true,
        builtAt: __HIVE_BUILD__.builtAt,
      },
);
