// Progress for long CLI work on stderr: one rewritten line on a terminal, a line every few seconds otherwise.
// Work done within the first second shows nothing: a quick incremental index before `import` is not news.
const QUIET_MS = 1000;

export function progressPrinter(err: NodeJS.WritableStream & { isTTY?: boolean }, label: string) {
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    update: (done: number, total: number, item?: string) => {
      const now = Date.now();
      if (now - started < QUIET_MS) return;
      const interval = err.isTTY ? 100 : 2000;
      if (now - last < interval && !(done === total && shown)) return;
      last = now;
      const pct = total ? ((100 * done) / total).toFixed(0) : '0';
      const line = `${label} ${done}/${total} (${pct}%)${item ? ` ${item}` : ''}`;
      if (err.isTTY) err.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
      else err.write(line + '\n');
      shown = true;
    },
    done: () => {
      if (shown && err.isTTY) err.write('\r\x1b[K');
    },
  };
}
