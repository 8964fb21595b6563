/**
 * Functions of the C library (glibc's libc.so.6) through node:ffi (./ffi.ts). Linux only; null
 * where they cannot be had (another OS, musl).
 */
import { type Signature, withFfi } from './ffi.ts';

/** One libc function by its C signature, or null when it cannot be looked up. */
export function libcFunction(
  name: string,
  signature: Signature,
): ((...args: unknown[]) => number) | null {
  if (process.platform !== 'linux') return null;
  const found = withFfi((ffi) => ffi.dlopen('libc.so.6', { [name]: signature }).functions[name]);
  return (found ?? null) as ((...args: unknown[]) => number) | null;
}
