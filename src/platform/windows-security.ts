/**
 * A folder's owner and DACL, this process's user and an entry's reparse tag, read from the Windows
 * API through node:ffi (./ffi.ts): advapi32's GetNamedSecurityInfoW, OpenProcessToken and
 * GetTokenInformation(TokenUser), kernel32's FindFirstFileW. Only reads: what they mean is
 * decided in ./windows-acl.ts. Windows only; elsewhere, or without node:ffi, it says why not.
 */
import { toNamespacedPath } from 'node:path';
import { type FfiModule, withFfi } from './ffi.ts';
import { type FolderSecurity, parseAcl, sidLength, sidString } from './windows-acl.ts';

export interface WindowsSecurity {
  /** This process's user (its token's TokenUser), as a SID string. */
  readonly user: string;
  /** The owner and DACL of `path` (following links), or the Win32 error that stopped it. */
  read(path: string): FolderSecurity | { error: number; detail: string };
  /** The reparse tag of `path` itself when it is a reparse point; undefined when not (or gone). */
  reparseTag(path: string): number | undefined;
}

// Win32 constants
const SE_FILE_OBJECT = 1;
const OWNER_SECURITY_INFORMATION = 0x1;
const DACL_SECURITY_INFORMATION = 0x4;
const TOKEN_QUERY = 0x8;
const TOKEN_USER_CLASS = 1;
const FILE_ATTRIBUTE_REPARSE_POINT = 0x400;
const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
/** WIN32_FIND_DATAW is 592 bytes; dwReserved0, the reparse tag, is at 36. */
const FIND_DATA_BYTES = 1024;
const FIND_DATA_TAG_OFFSET = 36;

/** A NUL-terminated UTF-16 path, \\?\-prefixed when absolute (no MAX_PATH limit). */
function wide(path: string): Buffer {
  return Buffer.from(`${toNamespacedPath(path)}\0`, 'utf16le');
}

function pointerIn(buffer: Buffer): bigint {
  return buffer.readBigUInt64LE(0);
}

let loaded: WindowsSecurity | { unavailable: string } | undefined;

/** The reader, loaded once; or why it cannot be had (not Windows, no node:ffi, a call failed). */
export function windowsSecurity(): WindowsSecurity | { unavailable: string } {
  loaded ??= load();
  return loaded;
}

function load(): WindowsSecurity | { unavailable: string } {
  if (process.platform !== 'win32') return { unavailable: 'not Windows' };
  let failure = 'node:ffi is not available in this Node';
  const reader = withFfi((ffi): WindowsSecurity | undefined => {
    try {
      return bind(ffi);
    } catch (error) {
      failure = (error as Error).message;
      return undefined;
    }
  });
  return reader ?? { unavailable: failure };

  function bind(ffi: FfiModule): WindowsSecurity | undefined {
    const pointer = 'pointer';
    const u32 = 'uint32';
    const advapi = ffi.dlopen('advapi32.dll', {
      GetNamedSecurityInfoW: {
        arguments: [pointer, u32, u32, pointer, pointer, pointer, pointer, pointer],
        return: u32,
      },
      OpenProcessToken: { arguments: [pointer, u32, pointer], return: 'int32' },
      GetTokenInformation: { arguments: [pointer, u32, pointer, u32, pointer], return: 'int32' },
    }).functions;
    const kernel = ffi.dlopen('kernel32.dll', {
      GetCurrentProcess: { arguments: [], return: pointer },
      CloseHandle: { arguments: [pointer], return: 'int32' },
      LocalFree: { arguments: [pointer], return: pointer },
      FindFirstFileW: { arguments: [pointer, pointer], return: pointer },
      FindClose: { arguments: [pointer], return: 'int32' },
    }).functions;
    const call = (
      fn: ((...args: unknown[]) => number | bigint) | undefined,
      ...args: unknown[]
    ) => {
      if (fn === undefined) throw new Error('a Windows API function is missing');
      return fn(...args);
    };

    /** The SID at `at` (memory Windows owns), or null. */
    const sidAt = (at: bigint): string | null =>
      at === 0n ? null : sidString(ffi.toBuffer(at, sidLength(ffi.toBuffer(at, 8, true)), true));

    const handle = Buffer.alloc(8);
    const self = call(kernel.GetCurrentProcess);
    if (call(advapi.OpenProcessToken, self, TOKEN_QUERY, handle) === 0) {
      failure = 'OpenProcessToken failed';
      return undefined;
    }
    const token = pointerIn(handle);
    let user: string | null = null;
    try {
      // TOKEN_USER: a pointer to the SID (inside this same buffer), then its attributes.
      const tokenUser = Buffer.alloc(512);
      const length = Buffer.alloc(4);
      if (call(advapi.GetTokenInformation, token, TOKEN_USER_CLASS, tokenUser, 512, length) !== 0)
        user = sidAt(pointerIn(tokenUser));
    } finally {
      call(kernel.CloseHandle, token);
    }
    if (user === null) {
      failure = 'GetTokenInformation(TokenUser) failed';
      return undefined;
    }

    const read = (path: string): FolderSecurity | { error: number; detail: string } => {
      const owner = Buffer.alloc(8);
      const dacl = Buffer.alloc(8);
      const descriptor = Buffer.alloc(8);
      const error = Number(
        call(
          advapi.GetNamedSecurityInfoW,
          wide(path),
          SE_FILE_OBJECT,
          OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
          owner,
          null,
          dacl,
          null,
          descriptor,
        ),
      );
      if (error !== 0) return { error, detail: `GetNamedSecurityInfoW: error ${error}` };
      // Owner and DACL point into the one descriptor Windows allocated: copy, then free it.
      try {
        const daclAt = pointerIn(dacl);
        let aces: FolderSecurity['dacl'] = null;
        if (daclAt !== 0n) {
          const size = ffi.toBuffer(daclAt, 8, true).readUInt16LE(2);
          const parsed = parseAcl(ffi.toBuffer(daclAt, size, true));
          if (parsed instanceof Error) return { error: -1, detail: parsed.message };
          aces = parsed;
        }
        return { owner: sidAt(pointerIn(owner)), dacl: aces };
      } finally {
        call(kernel.LocalFree, pointerIn(descriptor));
      }
    };

    const reparseTag = (path: string): number | undefined => {
      const data = Buffer.alloc(FIND_DATA_BYTES);
      const find = call(kernel.FindFirstFileW, wide(path), data) as bigint;
      if (find === INVALID_HANDLE_VALUE || find === 0n) return undefined;
      call(kernel.FindClose, find);
      if ((data.readUInt32LE(0) & FILE_ATTRIBUTE_REPARSE_POINT) === 0) return undefined;
      return data.readUInt32LE(FIND_DATA_TAG_OFFSET);
    };

    return { user, read, reparseTag };
  }
}
