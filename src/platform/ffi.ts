/**
 * node:ffi (built in, experimental in the Node we pin), typed here by hand: @types/node has no
 * types for it yet. Used for a few functions of the C library on Linux (./libc.ts) and of the
 * Windows API (./windows-security.ts). Every caller copes with null: a Node built without it, or
 * run with --no-experimental-ffi, still runs the worker.
 */

/** A function of a loaded library: numbers, bigints (64-bit integers, pointers) or Buffers in. */
export type NativeFunction = (...args: unknown[]) => number | bigint;

export interface Signature {
  arguments: string[];
  return: string;
}

/** What the worker uses of node:ffi. */
export interface FfiModule {
  dlopen(
    path: string,
    symbols: Record<string, Signature>,
  ): { functions: Record<string, NativeFunction> };
  /** `length` bytes at `pointer`, copied into a Buffer of our own when `copy`. */
  toBuffer(pointer: bigint, length: number, copy?: boolean): Buffer;
}

/** `load` with node:ffi at hand, its one ExperimentalWarning dropped; null when it cannot be had. */
export function withFfi<T>(load: (ffi: FfiModule) => T): T | null {
  const { emitWarning } = process;
  try {
    // node:ffi says once that it is experimental; that is ours to know, not the user's.
    process.emitWarning = (warning, ...rest: unknown[]) => {
      const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string })?.type;
      if (type === 'ExperimentalWarning' && String(warning).startsWith('FFI')) return;
      (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
    };
    const ffi = process.getBuiltinModule('node:ffi') as FfiModule | undefined;
    return ffi === undefined ? null : load(ffi);
  } catch {
    return null;
  } finally {
    process.emitWarning = emitWarning;
  }
}
