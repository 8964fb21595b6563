/**
 * Run by node.exe under Wine (test/windows/data-folder.e2e.ts), next to a copy of the worker's own
 * src/platform reader, Node running the TypeScript as it is. Prints one `RESULT <json>` line.
 *
 *   read <path>               the owner, DACL and reparse tag, as src/platform/windows-security.ts reads them
 *   set-dacl <path> <hex>     SetNamedSecurityInfoW: that DACL (binary, hex), protected, on <path>
 *   junction <target> <link>  fs.symlinkSync(target, link, 'junction')
 */
import { symlinkSync } from 'node:fs';
import { toNamespacedPath } from 'node:path';
import { withFfi } from '../../src/platform/ffi.ts';
import { windowsSecurity } from '../../src/platform/windows-security.ts';

const SE_FILE_OBJECT = 1;
/** DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION (no inherited entries). */
const PROTECTED_DACL = 0x8000_0004;

function say(value: unknown): void {
  console.log(`RESULT ${JSON.stringify(value)}`);
}

const [command = '', first = '', second = ''] = process.argv.slice(2);
if (command === 'read') {
  const security = windowsSecurity();
  if ('unavailable' in security) throw new Error(security.unavailable);
  say({ user: security.user, read: security.read(first), tag: security.reparseTag(first) });
} else if (command === 'set-dacl') {
  const error = withFfi((ffi) => {
    const { SetNamedSecurityInfoW } = ffi.dlopen('advapi32.dll', {
      SetNamedSecurityInfoW: {
        arguments: ['pointer', 'uint32', 'uint32', 'pointer', 'pointer', 'pointer', 'pointer'],
        return: 'uint32',
      },
    }).functions;
    const name = Buffer.from(`${toNamespacedPath(first)}\0`, 'utf16le');
    const dacl = Buffer.from(second, 'hex');
    return SetNamedSecurityInfoW?.(name, SE_FILE_OBJECT, PROTECTED_DACL, null, null, dacl, null);
  });
  say({ error });
} else if (command === 'junction') {
  try {
    symlinkSync(first, second, 'junction');
    say({ made: true });
  } catch (error) {
    say({ made: false, error: (error as Error).message });
  }
} else {
  throw new Error(`unknown command ${command}`);
}
