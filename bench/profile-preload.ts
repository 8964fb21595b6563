/**
 * `node --import bench/profile-preload.ts …`: V8's CPU profiler in this process only, written to
 * HIVE_PROFILE_DIR when it exits. A task process (`--task-child`) inherits the flag and skips it:
 * the profile is the worker's own time.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.HIVE_PROFILE_DIR;
if (dir !== undefined && !process.argv.includes('--task-child')) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  // A same-thread session answers synchronously: this works inside 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (error === null) {
        writeFileSync(
          join(dir, `worker-${process.pid}.cpuprofile`),
          JSON.stringify(result.profile),
        );
      }
    });
  });
}
