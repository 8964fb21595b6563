/** glibc functions through node:ffi (experimental, typed here by hand); null where there is no glibc. */

/** What this module uses of node:ffi (@types/node has no types for it yet). */
interface FfiModule {
  dlopen(
    path: string,
    symbols: Record<string, { arguments: string[]; return: string }>,
  ): { functions: Record<string, (...args: unknown[]) => number> };
}

/** One libc function by its C signature, or null when it cannot be looked up. */
export function libcFunction(
  name: string,
  signature: { arguments: string[]; return: string },
): ((...args: unknown[]) => number) | null {
  if (process.platform !== 'linux') return null;
  const { emitWarning } = process;
  try {
    // node:ffi says once that it is experimental; that is ours to know, not the user's.
    process.emitWarning = (warning, ...rest: unknown[]) => {
      const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string })?.type;
      if (type === 'ExperimentalWarning' && String(warning).startsWith('FFI')) return;
      (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
    };
    const ffi = process.getBuiltinModule('node:ffi') as FfiModule | undefined;
    return ffi?.dlopen('libc.so.6', { [name]: signature }).functions[name] ?? null;
  } catch {
    return null;
  } finally {
    process.emitWarning = emitWarning;
  }
}
