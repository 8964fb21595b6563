/**
 * `worker --install` / `--uninstall`: start at login, per user, idempotent. Only the single
 * executable installs itself: from source it would name a Node in node_modules that `npm ci` removes.
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
