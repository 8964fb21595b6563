/** glibc functions through node:ffi (./ffi.ts); null where there is no glibc (another OS, musl). */
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
