// Every bundle failure (bad checkpoint, bad bundle, bad arguments) is one error type with the problems listed,
// so the CLI and UI can show all of them at once instead of the first one only.
export class BundleError extends Error {
  readonly problems: string[];
  constructor(summary: string, problems: string[] = []) {
    super(problems.length ? `${summary}:\n  - ${problems.join('\n  - ')}` : summary);
    this.name = 'BundleError';
    this.problems = problems.length ? problems : [summary];
  }
}

/** Runs fn, turning any other error into a BundleError prefixed with `context`. */
export function asBundleError<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BundleError) throw e;
    throw new BundleError(`${context}: ${(e as Error).message}`);
  }
}
