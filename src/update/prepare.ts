/**
 * One newer release made ready to install: the announcement verified, the disk checked, then a
 * patch applied (./patch.ts) or the zip downloaded, verified and extracted. What it throws says
 * whether the next check may try again or the release is bad (skipped for UPDATE_RETRY_AFTER).
 */
import type { KeyObject } from 'node:crypto';
import { rmSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { coerceError, HiveError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { Settings } from '../settings/table.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { Release } from '../wire/protocol.ts';
import { downloadWithRetries } from './download.ts';
import { type ExtractedRelease, extractRelease, releaseFileNames } from './extract.ts';
import { applyPatch } from './patch.ts';
import type { ProgressBar } from './progress-bar.ts';
import { isSignatureV2Valid } from './signature.ts';
import { removeStaged, type UpdateStore } from './state.ts';
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
  /** WORKER_VERSION: a patch whose `from` is this one may be used. */
  version: string;
  /** The executable this worker runs from (a patch's base), undefined when running from source. */
  executable?: string | undefined;
  progressBar?: ProgressBar | undefined;
}

/** Disk needed besides the zip's size: the zip, the extracted files and a backup, plus a margin. */
const DISK_FACTOR = 3;
const DISK_MARGIN_BYTES = 50 * 1024 * 1024;

/**
 * Gets `release` ready in the staging folder — from a patch when one fits this version (protocol
 * 1.1-f), else from the zip — and throws if that fails. Both paths stage the same files.
 */
export async function prepareRelease(release: Release, deps: PrepareDeps): Promise<PreparedUpdate> {
  const { log, platform } = deps;
  verifyAnnouncement(release, platform, deps.publicKey);
  const staging = deps.store.staging();
  checkDiskSpace(release, staging);
  const target = join(staging, releaseFolder(release.version));
  const patched = await preparePatched(release, target, deps);
  if (patched !== undefined) return { release, extracted: patched };
  const zip = join(staging, `worker-${release.version}-${platform}.zip`);
  log.info(`downloading release ${release.version} (${(release.size / 1048576).toFixed(1)} MB)`);
  await fetchReleaseFile(release, { ...release, dest: zip, label: 'release' }, deps);
  await verifyDownload(zip, release);
  const extracted = await extractRelease(zip, target, { version: release.version, platform });
  log.info(
    `release ${release.version} downloaded and verified; installing once the current task is done`,
  );
  return { release, extracted };
}

/**
 * The patch path: undefined when no patch fits; any failure (download, signatureV2, a base that is
 * not the one the patch was made from, a hash) leaves nothing staged and says so in ONE log line,
 * and the caller takes the zip.
 */
async function preparePatched(
  release: Release,
  target: string,
  deps: PrepareDeps,
): Promise<ExtractedRelease | undefined> {
  const { log, platform, version, executable } = deps;
  const patch = release.patches?.find((one) => one.from === version);
  if (patch === undefined || executable === undefined) return undefined;
  const file = join(
    deps.store.staging(),
    `worker-${release.version}-${platform}.from-${version}.patch`,
  );
  try {
    // A patch larger than the zip is not a patch: no reason to fetch it.
    if (patch.size >= release.size)
      throw new Error(`the patch is ${patch.size} bytes, the zip ${release.size}`);
    const { manifestSha256, signatureV2 } = release;
    if (manifestSha256 === undefined || signatureV2 === undefined)
      throw new Error('the release has no manifestSha256 and signatureV2');
    const facts = { platform, version: release.version, sha256: release.sha256, manifestSha256 };
    if (!isSignatureV2Valid(facts, signatureV2, deps.publicKey))
      throw new Error('signatureV2 is not by the pinned release key');
    log.info(`downloading the patch from ${version} to ${release.version} (${patch.size} bytes)`);
    await fetchReleaseFile(release, { ...patch, dest: file, label: 'patch' }, deps);
    await verifyDownload(file, {
      version: release.version,
      size: patch.size,
      sha256: patch.sha256,
    });
    const names = releaseFileNames(platform);
    const bases = {
      [names.executable]: executable,
      [names.updater]: join(dirname(executable), names.updater),
    };
    const extracted = await applyPatch(file, bases, target, {
      version: release.version,
      platform,
      manifestSha256,
    });
    log.info(
      `release ${release.version} rebuilt from the patch and verified; installing once the current task is done`,
    );
    return extracted;
  } catch (error) {
    log.warn(
      `the patch from ${version} to ${release.version} was not used (${coerceError(error).message}); fetching the whole release`,
    );
    tidy(() => removeStaged(target));
    return undefined;
  } finally {
    for (const leftover of [file, `${file}.part`, `${file}.part.json`])
      tidy(() => rmSync(leftover, { force: true }));
  }
}

/** Tidying after a patch never stops the zip path: the next start prunes staging anyway. */
function tidy(remove: () => void): void {
  try {
    remove();
  } catch {
    // Left for the next start's prune.
  }
}

/** The one download path for the zip and the patch: origin and token rules, resume, deadline. */
async function fetchReleaseFile(
  release: Release,
  what: { url: string; dest: string; size: number; sha256: string; label: string },
  deps: PrepareDeps,
): Promise<void> {
  const { client, log, settings } = deps;
  const url = releaseUrl(release, client.resolve(what.url), client.resolve(''));
  let reported = 0;
  await downloadWithRetries(
    {
      url,
      dest: what.dest,
      sizeBytes: what.size,
      sha256: what.sha256,
      // The token only if the file is on SERVER_URL's origin (not a CDN's).
      headers: client.requestHeaders(url),
      dispatcher: client.dispatcher,
      deadlineMs: settings.updateDownloadTimeoutMs,
      inactivityMs: settings.requestTimeoutMs,
      onProgress: (received, total) => {
        const quarter = Math.floor((received / total) * 4);
        if (quarter > reported) {
          reported = quarter;
          log.info(`downloading ${what.label} ${release.version}: ${quarter * 25} %`);
        }
        deps.progressBar?.(received, total);
      },
    },
    {
      minRetryMs: settings.errorSleepMs,
      maxRetryMs: settings.maxErrorSleepMs,
      onRetry: (error, retryInMs, attempt) =>
        log.warn(
          `download of ${what.label} ${release.version} broke off (${error.message}); resuming in ${Math.round(retryInMs / 100) / 10} s (try ${attempt + 1})`,
        ),
    },
  );
  deps.progressBar?.(what.size, what.size, true);
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
