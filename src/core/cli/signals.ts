// Ctrl-C ends long commands cleanly. A terminal sends SIGINT to every process of the foreground group, and a
// launcher (npm start) may pass it on again, so one keypress can arrive twice: after the first signal, later ones
// only say that closing is under way, instead of killing the process before it has closed its project.
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Calls `onStop` on the first SIGINT/SIGTERM/SIGHUP and absorbs the ones that follow until `release()`.
 * The returned promise resolves with the first signal's name.
 */
export function onStopSignal(err: NodeJS.WritableStream, onStop: (signal: string) => void = () => {}): { stopped: Promise<string>; release(): void } {
  let first: string | null = null;
  let resolve!: (s: string) => void;
  const stopped = new Promise<string>((ok) => (resolve = ok));
  const handler = (signal: string) => {
    if (first) {
      err.write(`${signal}: still closing the project, please wait\n`);
      return;
    }
    first = signal;
    onStop(signal);
    resolve(signal);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return { stopped, release: () => SIGNALS.forEach((s) => process.off(s, handler)) };
}
