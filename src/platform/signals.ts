/**
 * Shutdown signals in one place. The first SIGINT/SIGTERM (Ctrl+C; SIGHUP and SIGBREAK when a
 * Windows console is closed or Ctrl+Break is pressed) drains; a second one forces.
 */
const SIGNALS: NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  ...(process.platform === 'win32' ? (['SIGBREAK'] as const) : []),
];

export interface SignalHandlers {
  drain: (signal: NodeJS.Signals) => void;
  force: (signal: NodeJS.Signals) => void;
}

/** Registers the handlers; returns a function that removes them. */
export function registerSignalHandlers(handlers: SignalHandlers): () => void {
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received += 1;
    if (received === 1) handlers.drain(signal);
    else handlers.force(signal);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}
