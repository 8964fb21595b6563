/**
 * The worker end to end, from source: node + test/fixtures/entry.ts. The same scenarios run
 * against the single executable in test/e2e/executable.test.ts.
 */
import { WORKER_VERSION } from '../../src/config.ts';
import { endToEndScenarios } from '../helpers/end-to-end.ts';
import { FIXTURE_ENTRY } from '../helpers/worker.ts';

endToEndScenarios({
  name: 'from source',
  program: () => ({ file: process.execPath, args: [FIXTURE_ENTRY] }),
  version: WORKER_VERSION,
});
