/**
 * Getting one newer release ready to install, for src/update/self-update.ts: verify the
 * announcement, check the disk, download (resuming), verify the file, extract. What it returns is
 * all the hand-off needs; what it throws says whether the next check may try again (a download that
 * broke off, a full disk) or the release is bad (skipped for UPDATE_RETRY_AFTER).
 */
import type { KeyObject } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { HiveError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { Settings } from '../settings/table.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { Release } from '../wire/protocol.ts';
import { downloadWithRetries } from './download.ts';
import { type ExtractedRelease, extractRelease } from './extract.ts';
import type { ProgressBar } from './progress-bar.ts';
import type { UpdateStore } from './state.ts';
import { releaseUrl, verifyAnnouncement, verifyDownload } from './verify.ts';

export interface PreparedUpdate {
  release: Release;
  extracted: ExtractedRelease;
}

export interface PrepareDeps {
  client: HiveClient;
  store: UpdateStore;
  settings: Settings;
  log: Logger;
  platform: string;
  /** The pinned release key. */
  publicKey: KeyObject;
  progressBar?: ProgressBar | undefined;
}

/** Disk needed besides the zip's size: the zip, the extracted files and a backup, plus a margin. */
const DISK_FACTOR = 3;
const DISK_MARGIN_BYTES = 50 * 1024 * 1024;

/** Downloads, verifies and extracts `release` into the staging folder; throws if any step fails. */
export async function prepareRelease(release: Release, deps: PrepareDeps): Promise<PreparedUpdate> {
  const { client, store, log, platform, settings } = deps;
  verifyAnnouncement(release, platform, deps.publicKey);
  const staging = store.staging();
  checkDiskSpace(release, staging);
  const zip = join(staging, `worker-${release.version}-${platform}.zip`);
  const url = releaseUrl(release, client.resolve(release.url), client.resolve(''));
  log.info(`downloading release ${release.version} (${(release.size / 1048576).toFixed(1)} MB)`);
  let reported = 0;
  await downloadWithRetries(
    {
      url,
      dest: zip,
      sizeBytes: release.size,
      sha256: release.sha256,
      // The token only if the release is on SERVER_URL's origin (not a CDN's).
      headers: client.requestHeaders(url),
      dispatcher: client.dispatcher,
      deadlineMs: settings.updateDownloadTimeoutMs,
      inactivityMs: settings.requestTimeoutMs,
      onProgress: (received, total) => {
        const quarter = Math.floor((received / total) * 4);
        if (quarter > reported) {
          reported = quarter;
          log.info(`downloading release ${release.version}: ${quarter * 25} %`);
        }
        deps.progressBar?.(received, total);
      },
    },
    {
      minRetryMs: settings.errorSleepMs,
      maxRetryMs: settings.maxErrorSleepMs,
      onRetry: (error, retryInMs, attempt) =>
        log.warn(
          `download of release ${release.version} broke off (${error.message}); resuming in ${Math.round(retryInMs / 100) / 10} s (try ${attempt + 1})`,
        ),
    },
  );
  deps.progressBar?.(release.size, release.size, true);
  await verifyDownload(zip, release);
  const extracted = await extractRelease(zip, join(staging, releaseFolder(release.version)), {
    version: release.version,
    platform,
  });
  log.info(
    `release ${release.version} downloaded and verified; installing once the current task is done`,
  );
  return { release, extracted };
}

/** A failure the next check may retry (a download that broke off, a full disk): not a bad release. */
export function isRetryable(error: unknown): boolean {
  return (
    error instanceof HiveError &&
    (error.details as { retryable?: boolean } | undefined)?.retryable === true
  );
}

/** The staging folder a release is extracted into (its updater runs from there). */
export function releaseFolder(version: string): string {
  return `release-${version}`;
}

function checkDiskSpace(release: Release, stagingDir: string): void {
  const stats = statfsSync(stagingDir);
  const free = stats.bavail * stats.bsize;
  const needed = release.size * DISK_FACTOR + DISK_MARGIN_BYTES;
  if (free < needed) {
    throw new HiveError(
      'UPDATE',
      `not enough disk space for release ${release.version}: ${Math.round(free / 1048576)} MB free, ${Math.round(needed / 1048576)} MB needed; will try again later`,
      { details: { retryable: true } },
    );
  }
}
