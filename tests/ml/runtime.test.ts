// The ONNX Runtime session layer on tiny models written by tests/ml/fixtures/onnxModels.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  InputValidationError,
  PROVIDERS_ENV,
  RunCancelledError,
  SessionManager,
  WorkerSessionHost,
  estimateModelBytes,
  expectedProviderStatus,
  externalDataLocations,
  requestedProviders,
  runtimeStatus,
  staticProviderProblem,
  summarizeProviders,
} from '../../src/core/ml/runtime';
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import protobuf from 'protobufjs';
import { ONNX_SCHEMA } from '../../src/core/ml/graph/onnxSchema';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { diffseg } from '../../src/core/pipelines/diffseg/definition';
import { PipelineService } from '../../src/core/pipelines/run';
import { sceneProject } from '../pipelines/diffseg/helpers';
import { addModel, int64Model, matmulModel, matmulModelExternal } from './fixtures/onnxModels';

let dir = '';
const p = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'difflabel-runtime-'));
  writeFileSync(p('add.onnx'), addModel());
  writeFileSync(p('mm.onnx'), matmulModel());
  writeFileSync(p('ids.onnx'), int64Model());
  // Four ~100 kB models for the budget test.
  for (const k of ['m1', 'm2', 'm3', 'm4']) writeFileSync(p(`${k}.onnx`), matmulModel(100_000));
  const ext = matmulModelExternal('ext.weights', 40_000);
  writeFileSync(p('ext.onnx'), ext.model);
  for (const [name, bytes] of Object.entries(ext.files)) writeFileSync(p(name), bytes);
  writeFileSync(p('corrupt.onnx'), 'this is not a protobuf');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const x2 = () => ({ data: Float32Array.from([1, 0, 0, 0, 0, 1, 2, 0]), dims: [2, 4] });
// W[k, j] = k + 10 j: row [1,0,0,0] -> [0, 10]; row [0,1,2,0] -> [1 + 2*2, 11 + 2*12] = [5, 35]
const Y2 = [0, 10, 5, 35];

describe('execution providers', () => {
  it('defaults to CUDA -> DirectML -> CoreML -> CPU filtered to what this machine has; env and option force a list', () => {
    const def = requestedProviders(undefined, {});
    expect(def.at(-1)).toBe('cpu');
    expect(def.filter((x) => ['cuda', 'dml', 'coreml', 'cpu'].includes(x))).toEqual(def);
    if (process.platform === 'linux') expect(def).toEqual(['cpu']); // CUDA's libraries are not installed here
    expect(requestedProviders(undefined, { [PROVIDERS_ENV]: ' CPU ' })).toEqual(['cpu']);
    expect(requestedProviders(['dml', 'cpu'], { [PROVIDERS_ENV]: 'cpu' })).toEqual(['dml', 'cpu']);
  });

  it('requested CUDA without its provider library falls back to CPU and says why', async () => {
    // This machine's onnxruntime-node has no CUDA provider libraries installed (install script skipped).
    expect(staticProviderProblem('cuda')).toMatch(/CUDA provider library not found \(.*libonnxruntime_providers_/);
    const m = new SessionManager({ providers: ['cuda', 'cpu'] });
    await m.register('mm', p('mm.onnx'));
    const info = await m.load('mm');
    expect(info.provider.requested).toEqual(['cuda', 'cpu']);
    expect(info.provider.active).toBe('cpu');
    expect(info.provider.fallbacks).toHaveLength(1);
    expect(info.provider.fallbacks[0]!.provider).toBe('cuda');
    expect(info.provider.fallbacks[0]!.reason).toMatch(/CUDA provider library not found/);
    // the skip is remembered and still reported for later sessions
    await m.register('add', p('add.onnx'));
    expect((await m.load('add')).provider.fallbacks.map((f) => f.provider)).toEqual(['cuda']);
    await m.dispose();
  });

  it('a provider this build lacks is reported; with nothing left the load fails with every reason', async () => {
    const m = new SessionManager({ providers: ['coreml', 'dml', 'cpu'] });
    await m.register('mm', p('mm.onnx'));
    const info = await m.load('mm');
    expect(info.provider.active).toBe('cpu');
    if (process.platform === 'linux') {
      expect(info.provider.fallbacks.map((f) => f.provider)).toEqual(['coreml', 'dml']);
      expect(info.provider.fallbacks[0]!.reason).toMatch(/CoreML is not available in this onnxruntime-node build for linux/);
      const only = new SessionManager({ providers: ['cuda'] });
      await only.register('mm', p('mm.onnx'));
      await expect(only.load('mm')).rejects.toThrow(/cannot load model "mm".*no execution provider could be started.*cuda: CUDA provider library not found/);
    }
    await m.dispose();
  });

  it('a provider whose libraries this machine lacks is not expected, so CPU is no fallback; asked for by name, it is', () => {
    // This machine's onnxruntime-node lists CUDA, but its provider libraries are not installed (install script skipped).
    expect(staticProviderProblem('cuda')).not.toBeNull();
    expect(requestedProviders(undefined, {})).not.toContain('cuda');
    if (process.platform === 'linux') expect(expectedProviderStatus()).toEqual({ requested: ['cpu'], active: 'cpu', fallbacks: [] });
    expect(expectedProviderStatus(['cuda', 'cpu'])).toEqual({
      requested: ['cuda', 'cpu'],
      active: 'cpu',
      fallbacks: [{ provider: 'cuda', reason: expect.stringMatching(/CUDA (provider library not found|is not available)/) }],
    });
  });
});

describe('runtime status: what the sessions got', () => {
  it('a CPU session reports CPU; before any session the expectation stands in', async () => {
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('mm', p('mm.onnx'));
    expect(m.providerStatus()).toBeNull();
    expect(runtimeStatus(m)).toEqual(expectedProviderStatus()); // this machine's default
    expect(runtimeStatus(null)).toEqual(expectedProviderStatus());
    await m.run('mm', { x: x2() });
    expect(runtimeStatus(m)).toEqual({ requested: ['cpu'], active: 'cpu', fallbacks: [] });
    await m.release();
    expect(runtimeStatus(m)).toEqual({ requested: ['cpu'], active: 'cpu', fallbacks: [] }); // what they ran on
    await m.dispose();
  });

  it('requested CUDA that is not installed: the worker host reports CPU and why, from its sessions', async () => {
    const host = new WorkerSessionHost({ providers: ['cuda', 'cpu'] });
    try {
      await host.register('mm', p('mm.onnx'));
      expect(host.providerStatus()).toBeNull();
      await host.run('mm', { x: x2() });
      const s = runtimeStatus(host);
      expect(s).toMatchObject({ requested: ['cuda', 'cpu'], active: 'cpu' });
      expect(s.fallbacks).toEqual([{ provider: 'cuda', reason: expect.stringMatching(/CUDA provider library not found/) }]);
    } finally {
      await host.dispose();
    }
  });

  it('runtime.status answers with the shared host\'s sessions once there are any', async () => {
    const backend = new Backend({ shell: 'web' });
    const status = () => backend.dispatch('runtime.status', {});
    try {
      expect(await status()).toEqual(expectedProviderStatus());
      // The shared worker starts under a CPU-only list; the expectation (then CoreML first) differs from it.
      process.env[PROVIDERS_ENV] = 'cpu';
      const host = sharedInferenceHost();
      await host.register('mm', p('mm.onnx'));
      await host.run('mm', { x: x2() });
      process.env[PROVIDERS_ENV] = 'coreml,cpu';
      expect(expectedProviderStatus().requested).toEqual(['coreml', 'cpu']);
      expect(await status()).toEqual({ requested: ['cpu'], active: 'cpu', fallbacks: [] });
    } finally {
      delete process.env[PROVIDERS_ENV];
      await backend.close();
      await disposeSharedInferenceHost();
    }
    expect(await status()).toEqual(expectedProviderStatus());
  });

  it('sessions on different providers are all named, each fallback reason once', () => {
    const cuda = { requested: ['cuda', 'cpu'], active: 'cuda', fallbacks: [] };
    const oom = { requested: ['cuda', 'cpu'], active: 'cpu', fallbacks: [{ provider: 'cuda', reason: 'CUDA failed to start: out of memory' }] };
    expect(summarizeProviders(['cuda', 'cpu'], [])).toBeNull();
    expect(summarizeProviders(['cuda', 'cpu'], [cuda, cuda])).toEqual(cuda);
    expect(summarizeProviders(['cuda', 'cpu'], [oom, cuda, oom])).toEqual({ requested: ['cuda', 'cpu'], active: 'cuda+cpu', fallbacks: oom.fallbacks });
  });
});

describe('SessionManager', () => {
  it('loads lazily on first run and computes the right values; metadata keeps the symbolic dim', async () => {
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('mm', p('mm.onnx'));
    expect((await m.sessions())[0]).toMatchObject({ key: 'mm', loaded: false });
    const out = await m.run('mm', { x: x2() });
    expect(out.y!.type).toBe('float32');
    expect(out.y!.dims).toEqual([2, 2]);
    expect(Array.from(out.y!.data as Float32Array)).toEqual(Y2);
    expect(Array.from(out.doubled!.data as Float32Array)).toEqual([2, 0, 0, 0, 0, 2, 4, 0]);
    const info = m.info('mm')!;
    expect(info.inputs).toEqual([{ name: 'x', type: 'float32', shape: ['batch', 4] }]);
    expect(info.outputs.map((o) => o.name)).toEqual(['y', 'doubled']);
    expect(info.bytes).toBe(statSync(p('mm.onnx')).size);
    expect((await m.sessions())[0]).toMatchObject({ key: 'mm', loaded: true, busy: 0 });
    // fetch only one output
    expect(Object.keys(await m.run('mm', { x: x2() }, ['y']))).toEqual(['y']);
    await m.dispose();
  });

  it('shares one session per key, even for concurrent first runs', async () => {
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('mm', p('mm.onnx'));
    const [a, b, c] = await Promise.all([m.load('mm'), m.load('mm'), m.run('mm', { x: x2() })]);
    expect(a).toBe(b);
    expect(Array.from(c.y!.data as Float32Array)).toEqual(Y2);
    expect(m.info('mm')).toBe(a);
    await m.dispose();
  });

  it('runs int64 inputs with a symbolic length and warms up on zero inputs', async () => {
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('ids', { path: p('ids.onnx'), warmUp: true });
    const info = await m.load('ids');
    expect(info.inputs[0]).toEqual({ name: 'ids', type: 'int64', shape: [1, 'n'] });
    const out = await m.run('ids', { ids: { data: BigInt64Array.from([1n, 49407n, -3n]), dims: [1, 3] } });
    expect(out.out!.type).toBe('int64');
    expect(Array.from(out.out!.data as BigInt64Array)).toEqual([2n, 98814n, -6n]);
    await m.dispose();
  });

  it('validates feeds before calling ONNX Runtime, naming the model and input', async () => {
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('add', p('add.onnx'));
    await m.register('mm', p('mm.onnx'));
    const f = (n = 6) => ({ data: new Float32Array(n), dims: [2, 3] });
    const cases: Array<[string, Record<string, { data: Float32Array | Int32Array; dims: number[] }>, RegExp]> = [
      ['add', { a: f() }, /model "add": missing input "b" float32\[2, 3\]/],
      ['add', { a: f(), b: f(), c: f() }, /model "add" has no input "c" \(inputs: a, b\)/],
      ['add', { a: f(), b: { data: new Int32Array(6), dims: [2, 3] } }, /input "b" must be float32, got int32/],
      ['add', { a: f(), b: { data: new Float32Array(6), dims: [6] } }, /input "b" must have rank 2 \[2, 3\], got dims \[6\]/],
      ['add', { a: f(), b: { data: new Float32Array(6), dims: [3, 2] } }, /input "b" dim 0 must be 2 \[2, 3\], got dims \[3, 2\]/],
      ['add', { a: f(), b: f(5) }, /input "b" dims \[2, 3\] need 6 elements, data has 5/],
      ['mm', { x: { data: new Float32Array(8), dims: [2, 3] } }, /input "x" dim 1 must be 4/],
    ];
    for (const [key, feeds, msg] of cases) {
      const err = await m.run(key, feeds).catch((e: Error) => e);
      expect(err).toBeInstanceOf(InputValidationError);
      expect((err as Error).message).toMatch(msg);
    }
    await expect(m.run('mm', { x: x2() }, ['nope'])).rejects.toThrow(/model "mm" has no output "nope" \(outputs: y, doubled\)/);
    await expect(m.run('missing', { x: x2() })).rejects.toThrow(/no model registered as "missing"/);
    await m.dispose();
  });

  it('checks that a symbolic dim has one size across inputs', async () => {
    const { buildModel } = await import('./fixtures/onnxModels');
    writeFileSync(
      p('batch2.onnx'),
      buildModel({
        inputs: [
          { name: 'u', dtype: 'float', shape: ['batch', 2] },
          { name: 'v', dtype: 'float', shape: ['batch', 2] },
        ],
        outputs: [{ name: 'w', dtype: 'float', shape: ['batch', 2] }],
        nodes: [{ op: 'Add', inputs: ['u', 'v'], outputs: ['w'] }],
      }),
    );
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('b2', p('batch2.onnx'));
    const t = (b: number) => ({ data: new Float32Array(b * 2).fill(1), dims: [b, 2] });
    await expect(m.run('b2', { u: t(3), v: t(2) })).rejects.toThrow(/dim "batch" is 3 in input "u" but 2 in input "v"/);
    expect((await m.run('b2', { u: t(3), v: t(3) })).w!.dims).toEqual([3, 2]);
    await m.dispose();
  });

  it('reports a corrupt model as a load error, not a provider problem', async () => {
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('bad', p('corrupt.onnx'));
    await expect(m.run('bad', {})).rejects.toThrow(/cannot load model "bad" from .*corrupt\.onnx/);
    await m.register('gone', p('does-not-exist.onnx'));
    await expect(m.load('gone')).rejects.toThrow(/does-not-exist\.onnx/);
    await m.dispose();
  });

  it('estimates size including external data, and runs the external-data model', async () => {
    const bytes = estimateModelBytes(p('ext.onnx'));
    expect(bytes).toBe(statSync(p('ext.onnx')).size + 32 + 40_000);
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('ext', p('ext.onnx'));
    const out = await m.run('ext', { x: x2() });
    expect(Array.from(out.y!.data as Float32Array)).toEqual(Y2);
    expect(m.info('ext')!.bytes).toBe(bytes);
    await m.dispose();
  });

  it('finds external data wherever a model names it: initializers, Constant values, subgraphs, functions', () => {
    const ext = (name: string, location: string) => ({
      name, dims: [1], data_type: 1, data_location: 1,
      external_data: [{ key: 'location', value: location }, { key: 'offset', value: '0' }, { key: 'length', value: '4' }],
    });
    const T = protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
    const model = T.encode(T.fromObject({
      ir_version: 8,
      opset_import: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        initializer: [ext('w', 'init.bin'), { name: 'inline', dims: [2], data_type: 1, raw_data: new Uint8Array(8) }],
        node: [
          { op_type: 'Constant', output: ['c'], attribute: [{ name: 'value', type: 4, t: ext('c', 'constant.bin') }] },
          { op_type: 'If', input: ['cond'], output: ['o'], attribute: [{ name: 'then_branch', type: 5, g: { name: 'then', initializer: [ext('s', '../sub.bin')] } }] },
        ],
      },
      functions: [{ name: 'f', domain: 'x', node: [{ op_type: 'Constant', output: ['k'], attribute: [{ name: 'value', type: 4, t: ext('k', '/abs/fn.bin') }] }] }],
    })).finish();
    writeFileSync(p('everywhere.onnx'), model);
    expect(externalDataLocations(p('everywhere.onnx')).sort()).toEqual(['../sub.bin', '/abs/fn.bin', 'constant.bin', 'init.bin']);
    expect(externalDataLocations(p('mm.onnx'))).toEqual([]);
    expect(() => externalDataLocations(p('corrupt.onnx'))).toThrow();
    writeFileSync(p('cut.onnx'), model.subarray(0, model.length - 3));
    expect(() => externalDataLocations(p('cut.onnx'))).toThrow(/truncated/);
  });

  it('releases least-recently-used idle sessions when the memory budget is exceeded', async () => {
    const size = statSync(p('m1.onnx')).size;
    const m = new SessionManager({ providers: ['cpu'], memoryBudgetBytes: Math.floor(size * 2.5) });
    for (const k of ['m1', 'm2', 'm3', 'm4']) await m.register(k, p(`${k}.onnx`));
    const loaded = async () => (await m.sessions()).filter((s) => s.loaded).map((s) => s.key);
    await m.run('m1', { x: x2() });
    await m.run('m2', { x: x2() });
    expect(await loaded()).toEqual(['m1', 'm2']);
    await m.run('m1', { x: x2() }); // m1 is now more recent than m2
    await m.run('m3', { x: x2() }); // over budget: m2 (least recent) goes
    expect(await loaded()).toEqual(['m1', 'm3']);
    await m.run('m4', { x: x2() }); // m1 goes
    expect(await loaded()).toEqual(['m3', 'm4']);
    // a released model reloads lazily with the same results
    expect(Array.from((await m.run('m2', { x: x2() })).y!.data as Float32Array)).toEqual(Y2);
    expect(await loaded()).toEqual(['m2', 'm4']);
    await m.release('m4');
    expect(await loaded()).toEqual(['m2']);
    await m.release();
    expect(await loaded()).toEqual([]);
    await m.dispose();
  });

  it('honours an already-aborted signal', async () => {
    const m = new SessionManager({ providers: ['cpu'] });
    await m.register('mm', p('mm.onnx'));
    const ac = new AbortController();
    ac.abort();
    await expect(m.run('mm', { x: x2() }, undefined, { signal: ac.signal })).rejects.toBeInstanceOf(RunCancelledError);
    await m.dispose();
  });

  it("creates sessions on every CPU the process may use, with ONNX Runtime's CPU arena and without its memory pattern, unless its options ask otherwise", async () => {
    const create = vi.spyOn(ort.InferenceSession, 'create');
    try {
      const plain = new SessionManager({ providers: ['cpu'] });
      const asked = new SessionManager({ providers: ['cpu'], sessionOptions: { enableMemPattern: true, enableCpuMemArena: false, intraOpNumThreads: 1, graphOptimizationLevel: 'basic' } });
      for (const m of [plain, asked]) {
        await m.register('mm', p('mm.onnx'));
        expect(Array.from((await m.run('mm', { x: x2() })).y!.data as Float32Array)).toEqual(Y2);
        await m.dispose();
      }
      expect(create.mock.calls.map((c) => c[1])).toEqual([
        { enableMemPattern: false, enableCpuMemArena: true, intraOpNumThreads: availableParallelism(), executionProviders: ['cpu'] },
        { enableMemPattern: true, enableCpuMemArena: false, intraOpNumThreads: 1, graphOptimizationLevel: 'basic', executionProviders: ['cpu'] },
      ]);
    } finally {
      create.mockRestore();
    }
  });
});

describe('WorkerSessionHost', () => {
  it('round-trips runs through a worker thread started from TypeScript source', async () => {
    const host = new WorkerSessionHost({ providers: ['cuda', 'cpu'] });
    try {
      await host.register('mm', p('mm.onnx'));
      const info = await host.load('mm');
      expect(info.provider.active).toBe('cpu');
      expect(info.provider.fallbacks[0]).toMatchObject({ provider: 'cuda' });
      const input = x2();
      const out = await host.run('mm', { x: input });
      expect(out.y!.data).toBeInstanceOf(Float32Array);
      expect(Array.from(out.y!.data as Float32Array)).toEqual(Y2);
      expect(out.y!.dims).toEqual([2, 2]);
      expect(input.data.byteLength).toBe(0); // the input buffer was transferred, not copied
      const ids = await host.run('mm', { x: x2() }, ['doubled']);
      expect(Object.keys(ids)).toEqual(['doubled']);
      expect((await host.sessions()).map((s) => [s.key, s.loaded])).toEqual([['mm', true]]);
      await host.release('mm');
      expect((await host.sessions()).map((s) => [s.key, s.loaded])).toEqual([['mm', false]]);
    } finally {
      await host.dispose();
    }
  });

  it('surfaces errors from the worker as rejections with the message, and keeps working', async () => {
    const host = new WorkerSessionHost({ providers: ['cpu'] });
    try {
      await host.register('add', p('add.onnx'));
      const err = await host.run('add', { a: { data: new Float32Array(6), dims: [2, 3] } }).catch((e: Error) => e);
      expect((err as Error).name).toBe('InputValidationError');
      expect((err as Error).message).toMatch(/model "add": missing input "b"/);
      await host.register('bad', p('corrupt.onnx'));
      await expect(host.load('bad')).rejects.toThrow(/cannot load model "bad"/);
      const ok = await host.run('add', { a: { data: new Float32Array(6).fill(1), dims: [2, 3] }, b: { data: new Float32Array(6).fill(2), dims: [2, 3] } });
      expect(Array.from(ok.sum!.data as Float32Array)).toEqual([3, 3, 3, 3, 3, 3]);
    } finally {
      await host.dispose();
    }
  });

  it('cancels queued runs (signal or cancelQueued) while the one in flight completes', async () => {
    const host = new WorkerSessionHost({ providers: ['cpu'] });
    try {
      await host.register('mm', p('mm.onnx'));
      const first = host.run('mm', { x: x2() });
      const second = host.run('mm', { x: x2() });
      const ac = new AbortController();
      const third = host.run('mm', { x: x2() }, undefined, { signal: ac.signal });
      const fourth = host.run('mm', { x: x2() });
      expect(host.pending).toBe(3);
      ac.abort();
      await expect(third).rejects.toBeInstanceOf(RunCancelledError);
      expect(host.pending).toBe(2);
      expect(host.cancelQueued('mm')).toBe(2);
      await expect(second).rejects.toThrow(/inference run cancelled/);
      await expect(fourth).rejects.toBeInstanceOf(RunCancelledError);
      expect(Array.from((await first).y!.data as Float32Array)).toEqual(Y2);
      expect(host.pending).toBe(0);
      // aborting the run in flight answers at once; its late result is dropped and the next run is unaffected
      const ac2 = new AbortController();
      const inFlight = host.run('mm', { x: x2() }, undefined, { signal: ac2.signal });
      const next = host.run('mm', { x: x2() }, ['y']);
      ac2.abort();
      await expect(inFlight).rejects.toThrow(/result was discarded/);
      expect(Object.keys(await next)).toEqual(['y']);
    } finally {
      await host.dispose();
    }
  });

  it('interactive runs start before queued batch runs; the run in flight finishes first', async () => {
    const host = new WorkerSessionHost({ providers: ['cpu'] });
    try {
      await host.register('mm', p('mm.onnx'));
      const order: string[] = [];
      const run = (name: string, priority?: 'interactive' | 'batch') =>
        host.run('mm', { x: x2() }, ['y'], { priority }).then((out) => {
          expect(Array.from(out.y!.data as Float32Array)).toEqual(Y2);
          order.push(name);
        });
      const all = [run('batch 1', 'batch'), run('batch 2', 'batch'), run('batch 3', 'batch'), run('click 1', 'interactive'), run('batch 4', 'batch'), run('click 2')];
      expect(host.pending).toBe(5); // batch 1 is in flight
      await Promise.all(all);
      expect(order).toEqual(['batch 1', 'click 1', 'click 2', 'batch 2', 'batch 3', 'batch 4']);
    } finally {
      await host.dispose();
    }
  });

  it("DiffSeg clicks run as 'interactive', segment-everything as 'batch'", async () => {
    const project = await sceneProject([[320, 240, 3, 21], [240, 320, 3, 22]]);
    const host = sharedInferenceHost() as WorkerSessionHost;
    const real = host.run.bind(host);
    // The fixture UNet and the merging after it are what take time, and play no part here.
    const runs = vi.spyOn(host, 'run').mockImplementation((key, feeds, names, opts) =>
      key.endsWith(':unet_diffseg') ? Promise.reject(new Error('UNet left out')) : real(key, feeds, names, opts));
    const service = new PipelineService(project.store);
    const priorities = () => runs.mock.calls.map((c) => [c[0].split(':').pop(), c[3]?.priority]);
    try {
      const [[clicked, scene], [segmented]] = [...project.scenes];
      const points = [{ x: Math.round(scene!.width / 2), y: Math.round(scene!.height / 2), positive: true }];
      await expect(service.preview(diffseg, clicked!, diffseg.params.parse({}), { kind: 'points', points }, 'fixture')).rejects.toThrow(/UNet left out/);
      expect(priorities()).toEqual([['vae_encoder', 'interactive'], ['text_encoder', 'interactive'], ['unet_diffseg', 'interactive']]);
      runs.mockClear();
      expect((await service.batch(diffseg, diffseg.params.parse({}), { imageIds: [segmented!], model: 'fixture' })).failed).toEqual([expect.objectContaining({ error: 'UNet left out' })]);
      expect(priorities()).toEqual([['vae_encoder', 'batch'], ['unet_diffseg', 'batch']]); // the prompt embedding is kept
    } finally {
      runs.mockRestore();
      await service.dispose();
      await disposeSharedInferenceHost();
      project.cleanup();
    }
  });

  it('a crashing or exiting worker rejects the call in flight and is replaced', async () => {
    const host = new WorkerSessionHost({ workerScript: new URL('./fixtures/crashingWorker.mjs', import.meta.url) });
    try {
      await host.register('mm', p('mm.onnx'));
      await expect(host.run('mm', { x: x2() })).rejects.toThrow(/inference worker crashed: boom from the fixture worker/);
      await expect(host.sessions()).resolves.toEqual([]); // a fresh worker answers
      await expect(host.load('mm')).rejects.toThrow(/inference worker exited with code 7/);
      await expect(host.sessions()).resolves.toEqual([]);
    } finally {
      await host.dispose();
    }
    await expect(host.sessions()).rejects.toThrow(/disposed/);
  });
});
