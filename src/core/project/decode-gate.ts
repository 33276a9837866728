// libvips keeps one process-wide error buffer: when two decodes fail at once, one failure can carry both
// messages and the other gets "Unknown error". So decodes run shared, and a failed one is retried alone
// (no other decode in flight) to get its own, accurate message.

const inFlight = new Set<Promise<unknown>>();
let barrier: Promise<void> | null = null;

async function shared<T>(run: () => Promise<T>): Promise<T> {
  while (barrier) await barrier;
  const p = run();
  inFlight.add(p);
  try {
    return await p;
  } finally {
    inFlight.delete(p);
  }
}

async function alone<T>(run: () => Promise<T>): Promise<T> {
  while (barrier) await barrier;
  let release!: () => void;
  barrier = new Promise((r) => (release = r));
  try {
    await Promise.allSettled([...inFlight]);
    return await run();
  } finally {
    barrier = null;
    release();
  }
}

/** Runs a sharp decode; if it fails, runs it again alone and reports that attempt's outcome. */
export async function decodeWithAccurateErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await shared(run);
  } catch {
    return alone(run);
  }
}
