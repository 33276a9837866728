// Job progress events are throttled (a folder of 100k files must not flood the UI), but never stale: a message held
// back by the throttle is sent once the interval has passed, so a step that then takes long is what the job bar shows.
import { describe, expect, it } from 'vitest';
import { JobManager } from '../../src/core/jobs/manager';
import type { Job } from '../../src/shared/contract';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('job progress', () => {
  it('sends the latest held-back message after the interval, and nothing after the job ends', async () => {
    const sent: Job[] = [];
    const jobs = new JobManager({ progress: (j) => sent.push(j), finished: () => {} }, 50);
    let release!: () => void;
    const job = jobs.start('test', async (ctx) => {
      ctx.progress(0, 10, 'Converting: UNet');
      ctx.progress(1, 10, 'Converting: VAE'); // within the interval: held back, then replaced
      ctx.progress(2, 10, 'Verifying: loading unet'); // the step that takes long
      await new Promise<void>((r) => (release = r));
    });
    await sleep(150);
    expect(sent.map((j) => j.message)).toEqual(['Converting: UNet', 'Verifying: loading unet']);
    expect(sent.at(-1)).toMatchObject({ done: 2, total: 10 });
    release();
    await jobs.wait(job.id);
    await sleep(100);
    expect(sent).toHaveLength(2);
  });

  it('a burst sends at most one event per interval', async () => {
    const sent: Job[] = [];
    const jobs = new JobManager({ progress: (j) => sent.push(j), finished: () => {} }, 1000);
    const job = jobs.start('test', async (ctx) => {
      for (let i = 0; i < 10_000; i++) ctx.progress(i, 100_000, `file ${i}`);
    });
    await jobs.wait(job.id);
    expect(sent.map((j) => j.message)).toEqual(['file 0']);
  });

  it('a preview held back by the throttle goes out with the next event, the newest replacing older ones, once', async () => {
    const sent: { message: string; preview?: number }[] = [];
    const jobs = new JobManager({ progress: (j, p) => sent.push({ message: j.message, ...(p && 'imageId' in p ? { preview: p.imageId } : {}) }), finished: () => {} }, 50);
    const mask = { h: 1, w: 1, counts: Uint32Array.of(0, 1) };
    let release!: () => void;
    const job = jobs.start('test', async (ctx) => {
      ctx.progress(0, 1, 'iteration 1', { imageId: 1, mask });
      ctx.progress(0, 1, 'iteration 2', { imageId: 2, mask }); // held back
      ctx.progress(0, 1, 'iteration 3', { imageId: 3, mask }); // replaces it
      ctx.progress(0, 1, 'iteration 4');
      await new Promise<void>((r) => (release = r));
      ctx.progress(0, 1, 'iteration 5');
    });
    await sleep(150);
    release();
    await jobs.wait(job.id);
    expect(sent).toEqual([{ message: 'iteration 1', preview: 1 }, { message: 'iteration 4', preview: 3 }, { message: 'iteration 5' }]);
  });
});
