/**
 * The Windows-only steps: drop node.exe's Authenticode signature (injecting would leave it
 * invalid), write our version resource and icon with resedit, sign with the publisher's
 * certificate through a hook, and read an .exe back to check what it carries.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as ResEdit from 'resedit';
import { BuildError } from './config.ts';

const RT_ICON = 3;
const RT_RCDATA = 10;
const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const PE32_PLUS_MAGIC = 0x20b;
/** English (US), Unicode: the language Node's own version resource uses. */
const LANG = { lang: 1033, codepage: 1200 };

export function removeSignature(input: string, output: string): void {
  const result = spawnSync('osslsigncode', ['remove-signature', '-in', input, '-out', output], {
    encoding: 'utf8',
  });
  if (result.error !== undefined) {
    throw new BuildError(
      `cannot run osslsigncode (${result.error.message}); install it: apt-get install -y osslsigncode`,
    );
  }
  if (result.status !== 0) {
    throw new BuildError(
      `osslsigncode remove-signature ${input} failed: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
}

export interface WindowsResources {
  version: string;
  productName: string;
  fileDescription: string;
  companyName: string;
  originalFilename: string;
  iconFile: string;
}

/** Numeric version for the fixed part of the resource: 1.2.3-beta.4 → 1.2.3.0. */
function numericVersion(version: string): [number, number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version
    .split(/[-+]/)[0]
    ?.split('.')
    .map((part) => Math.min(65_535, Number(part) || 0)) ?? [0, 0, 0];
  return [major, minor, patch, 0];
}

/** Replaces node.exe's version strings and icon with ours, in place. */
export function setResources(file: string, resources: WindowsResources): void {
  const exe = ResEdit.NtExecutable.from(readFileSync(file), { ignoreCert: true });
  const res = ResEdit.NtExecutableResource.from(exe);

  const info = ResEdit.Resource.VersionInfo.fromEntries(res.entries)[0];
  if (info === undefined) throw new BuildError(`${file} has no version resource to replace`);
  const [major, minor, patch, build] = numericVersion(resources.version);
  info.setFileVersion(major, minor, patch, build, LANG.lang);
  info.setProductVersion(major, minor, patch, build, LANG.lang);
  for (const language of info.getAllLanguagesForStringValues()) {
    info.removeAllStringValues(language, false);
  }
  info.setStringValues(LANG, {
    ProductName: resources.productName,
    FileDescription: resources.fileDescription,
    CompanyName: resources.companyName,
    FileVersion: resources.version,
    ProductVersion: resources.version,
    OriginalFilename: resources.originalFilename,
    InternalName: resources.originalFilename.replace(/\.exe$/i, ''),
    LegalCopyright: '',
  });
  info.outputToResourceEntries(res.entries);

  // Replace the first icon group (the one Explorer shows) and drop node's icon images.
  const group = ResEdit.Resource.IconGroupEntry.fromEntries(res.entries)[0];
  const icon = ResEdit.Data.IconFile.from(readFileSync(resources.iconFile));
  const groupId = group?.id ?? 1;
  const groupLang = group?.lang ?? LANG.lang;
  res.entries = res.entries.filter((entry) => entry.type !== RT_ICON);
  ResEdit.Resource.IconGroupEntry.replaceIconsForResource(
    res.entries,
    groupId,
    groupLang,
    icon.icons.map((item) => item.data),
  );
  res.outputResource(exe);
  writeFileSync(file, Buffer.from(exe.generate()));
}

/**
 * The publisher's signing hook: HIVE_SIGN_COMMAND names a program (a script) run as
 * `<command> <path-to-worker.exe>` that must sign the file in place (e.g. osslsigncode with the
 * publisher's certificate, then move the result over the input). Unset: the exe stays unsigned.
 */
export function signWithHook(file: string, command: string | undefined): 'signed' | 'unsigned' {
  if (command === undefined || command === '') return 'unsigned';
  const result = spawnSync(command, [file], { stdio: 'inherit', shell: false });
  if (result.error !== undefined || result.status !== 0) {
    throw new BuildError(
      `the signing command HIVE_SIGN_COMMAND=${JSON.stringify(command)} failed on ${file} ` +
        `(${result.error?.message ?? `exit ${result.status}`})`,
    );
  }
  return 'signed';
}

export interface ExeFacts {
  isPe32PlusX64: boolean;
  hasSeaBlob: boolean;
  seaBlobBytes: number;
  versionStrings: Record<string, string>;
  fileVersion: string;
  iconSizes: number[];
}

/** What a built worker.exe carries, read back from the file. */
export function readExeFacts(file: string): ExeFacts {
  const exe = ResEdit.NtExecutable.from(readFileSync(file), { ignoreCert: true });
  const header = exe.newHeader;
  const res = ResEdit.NtExecutableResource.from(exe);
  const blob = res.entries.find(
    (entry) => entry.type === RT_RCDATA && entry.id === 'NODE_SEA_BLOB',
  );
  const info = ResEdit.Resource.VersionInfo.fromEntries(res.entries)[0];
  const fixed = info?.fixedInfo;
  const group = ResEdit.Resource.IconGroupEntry.fromEntries(res.entries)[0];
  return {
    isPe32PlusX64:
      header.fileHeader.machine === IMAGE_FILE_MACHINE_AMD64 &&
      header.optionalHeader.magic === PE32_PLUS_MAGIC,
    hasSeaBlob: blob !== undefined,
    seaBlobBytes: blob?.bin.byteLength ?? 0,
    versionStrings: info === undefined ? {} : info.getStringValues(LANG),
    fileVersion:
      fixed === undefined
        ? ''
        : [
            fixed.fileVersionMS >>> 16,
            fixed.fileVersionMS & 0xffff,
            fixed.fileVersionLS >>> 16,
            fixed.fileVersionLS & 0xffff,
          ].join('.'),
    iconSizes: group?.icons.map((icon) => icon.width || 256) ?? [],
  };
}
