/**
 * Download progress on an interactive console: one line redrawn in place. Log lines say the same
 * everywhere else (src/update/prepare.ts), so a worker without a terminal loses nothing.
 */

/** Draws the progress of a download; `done` ends the line. */
export type ProgressBar = (receivedBytes: number, totalBytes: number, done?: boolean) => void;

/** A one-line progress bar for a terminal: redrawn in place, at most every 1 %. */
export function terminalProgressBar(
  stream: { write(text: string): unknown },
  label: string,
): ProgressBar {
  let shown = -1;
  return (received, total, done = false) => {
    const percent = Math.floor((received / total) * 100);
    if (percent === shown && !done) return;
    shown = percent;
    const filled = Math.round(percent / 5);
    stream.write(
      `\r${label} [${'#'.repeat(filled)}${'-'.repeat(20 - filled)}] ${percent} %${done ? '\n' : ''}`,
    );
  };
}
