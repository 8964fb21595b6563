/**
 * `worker --install` / `worker --uninstall`: start the worker when the user logs in — per user,
 * no admin rights. Linux: a systemd user unit (install-linux.ts); Windows: the HKCU Run key
 * (install-windows.ts). Both are idempotent and say, one line each, what they did.
 *
 * Only the single executable installs itself: from source the command would name a Node binary in
 * node_modules and a checkout, which `npm ci` or `git clean` can pull away.
 */
import { HiveError } from '../platform/errors.ts';
import { installLinux, uninstallLinux } from './install-linux.ts';
import { installWindows, uninstallWindows } from './install-windows.ts';
import type { LoginStartAction, LoginStartContext } from './login-start.ts';

/** Installs or removes the start at login for this platform. Throws a HiveError it cannot. */
export function changeLoginStart(
  action: LoginStartAction,
  context: LoginStartContext,
  platform: NodeJS.Platform = process.platform,
): void {
  if (platform === 'linux') {
    if (action === 'install') installLinux(context);
    else uninstallLinux(context);
  } else if (platform === 'win32') {
    if (action === 'install') installWindows(context);
    else uninstallWindows(context);
  } else {
    throw new HiveError(
      'CONFIG',
      `--${action} supports Linux (systemd) and Windows only, not ${platform}`,
    );
  }
}
