// PyTorch checkpoints read without Python: the golden torch.save files (every tensor's dtype, shape, stride, offset,
// storage and values; the object tree), the zip container (ZIP64, byte order, compressed entries), the pickle
// opcodes checkpoints use, and the globals that become inert records instead of being called.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fileSource, PyDict, PyObject, PySet, readTorchCheckpoint, SafetensorsFile, TorchCheckpointError, TorchFile, TorchSize, TorchTensor,
  type StDType,
} from '../../src/core/ml/weights';
import { fromBFloat16Bits, toFloat16Bits } from '../../src/core/ml/graph';
import { tempDir } from '../helpers/folder';
import { golden } from './weights.helpers';
import { legacyFile, PickleWriter, pickleTensor, torchSave, writeSparseCheckpoint, zipArchive } from './torch.helpers';

const P = (...p: string[]) => golden('torch_pickles_P', ...p);

interface ExpectedTensor {
  path: string[];
  dtype: string;
  shape: number[];
  stride: number[];
  storage_offset: number;
  storage_group: number;
  storage_key: string;
  storage_numel: number;
  requires_grad: boolean;
  is_parameter: boolean;
  values_key: string;
  sha256_values: string;
}
interface ExpectedFile {
  format: 'zip' | 'legacy';
  object?: unknown;
  tensors?: ExpectedTensor[];
}
const expected = JSON.parse(readFileSync(P('expected.json'), 'utf8')) as { files: Record<string, ExpectedFile> };
const BENIGN = Object.keys(expected.files).filter((f) => f !== 'malicious_zip.pt');
const ST: Record<string, StDType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', bool: 'BOOL' };

const sha256 = (d: ArrayBufferView) => createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).digest('hex');

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => void (tmp = tempDir('difflabel-torch-')));
afterAll(() => tmp.cleanup());
const write = (name: string, bytes: Uint8Array) => {
  const p = join(tmp.path, name);
  writeFileSync(p, bytes);
  return p;
};

/** The object tree in expected.json's notation; tensors are numbered by where expected.json puts them. */
function tree(v: unknown, index: Map<TorchTensor, number>): unknown {
  const plain = (x: unknown): unknown => (x instanceof PyDict ? Object.fromEntries([...x.entries].map(([k, y]) => [k, plain(y)])) : x);
  if (v instanceof TorchTensor) return { tensor: index.get(v) };
  if (v instanceof TorchSize) return { 'torch.Size': v.dims };
  if (v instanceof PySet) return { type: 'set', items: v.items.map((x) => tree(x, index)) };
  if (Array.isArray(v)) return { type: 'list', items: v.map((x) => tree(x, index)) };
  if (v instanceof PyDict) {
    const out: Record<string, unknown> = { type: v.cls, items: [...v.entries].map(([k, x]) => [k, tree(x, index)]) };
    if (v.state) out['_metadata (pickled with BUILD)'] = plain((v.state as PyDict).entries.get('_metadata'));
    return out;
  }
  return v;
}

/** The value at `path` (dict keys) under `root`. */
function at(root: unknown, path: string[]): unknown {
  return path.reduce((o, k) => (o as PyDict).entries.get(k), root);
}

describe('golden torch.save files (torch_pickles_P)', () => {
  const values = SafetensorsFile.open(P('expected_tensors.safetensors'));
  afterAll(() => values.close());

  it.each(BENIGN)('%s: every tensor with its dtype, shape, stride, offset, storage and values', (name) => {
    const exp = expected.files[name]!;
    const got = readTorchCheckpoint(P(name));
    expect([...got.keys()].sort()).toEqual(exp.tensors!.map((t) => t.path.join('.')).sort());
    const keyOfGroup = new Map<number, string>();
    for (const t of exp.tensors!) {
      const g = got.get(t.path.join('.'))!;
      expect(g.path).toEqual(t.path);
      expect([g.dtype, g.shape, g.stride, g.storageOffset], t.path.join('.')).toEqual([ST[t.dtype], t.shape, t.stride, t.storage_offset]);
      expect(g.storageKey).toBe(t.storage_key);
      expect(g.storageNumel).toBe(t.storage_numel);
      expect(g.requiresGrad).toBe(t.requires_grad);
      // sha256 of the elements in row-major order of the logical shape: views and expanded strides included
      expect(sha256(g.data), t.path.join('.')).toBe(t.sha256_values);
      const want = t.dtype === 'bfloat16' ? values.readFloat32(t.values_key) : values.readRaw(t.values_key).data;
      const have = t.dtype === 'bfloat16' ? fromBFloat16Bits(g.data as Uint16Array) : g.data;
      expect(Buffer.compare(Buffer.from(have.buffer, have.byteOffset, have.byteLength), Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(0);
      // tensors of one storage group share one storage; different groups never do
      const key = keyOfGroup.get(t.storage_group);
      if (key === undefined) {
        expect([...keyOfGroup.values()]).not.toContain(g.storageKey);
        keyOfGroup.set(t.storage_group, g.storageKey);
      } else expect(g.storageKey).toBe(key);
    }
  });

  it.each(BENIGN)('%s: the object tree is what torch.load returns', (name) => {
    const exp = expected.files[name]!;
    const f = TorchFile.open(P(name));
    try {
      expect(f.format).toBe(exp.format);
      const index = new Map(exp.tensors!.map((t, i) => [at(f.root, t.path) as TorchTensor, i]));
      expect(index.size).toBe(exp.tensors!.length);
      expect(tree(f.root, index)).toEqual(exp.object);
    } finally {
      f.close();
    }
  });

  it('state-dict keys: a Lightning checkpoint is read through its state_dict; other wrappers keep their path', () => {
    const keys = (name: string) => {
      const f = TorchFile.open(P(name));
      const k = f.keys();
      f.close();
      return k;
    };
    const sd = expected.files['state_dict_zip.pt']!.tensors!.map((t) => t.path[0]);
    expect(keys('state_dict_zip.pt')).toEqual(sd);
    expect(keys('lightning_like_zip.pt')).toEqual(sd.map((k) => `model.${k}`));
    expect(keys('lightning_like_legacy.pt')).toEqual(sd.map((k) => `model.${k}`));
    expect(keys('deepspeed_like_zip.pt')).toEqual(sd.map((k) => `module.${k}`));
    expect(keys('parameters_zip.pt')).toEqual(['lora_A', 'lora_B']);
  });

  it('the views of one storage read from the same bytes; a transposed weight and an expanded bias materialise', () => {
    const f = TorchFile.open(P('state_dict_zip.pt'));
    try {
      expect(f.info('k_view').storage).toBe(f.info('qkv').storage);
      expect(f.info('qkv_cols')).toMatchObject({ shape: [12, 2], stride: [4, 1], storageOffset: 1 });
      const qkv = f.readFloat32('qkv');
      expect(Array.from(f.readFloat32('k_view'))).toEqual(Array.from(qkv.subarray(16, 32)));
      expect(Array.from(f.readFloat32('qkv_cols'))).toEqual(Array.from({ length: 24 }, (_, i) => qkv[Math.floor(i / 2) * 4 + 1 + (i % 2)]!));
      expect(Array.from(f.readFloat32('bias_expanded'))).toEqual([0, 1, 2, 0, 1, 2]);
      expect(f.readRaw('proj.weight').shape).toEqual([5, 3]);
      expect(f.info('norm.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
      expect(f.readFloat32('empty').length).toBe(0);
      expect(() => f.readFloat32('attn_mask')).toThrow(/state_dict_zip\.pt: tensor 'attn_mask' is BOOL, not floating point/);
      expect(() => f.info('nope')).toThrow(/state_dict_zip\.pt: no tensor named 'nope'/);
    } finally {
      f.close();
    }
  });

  it('plain Python values: numbers, strings, None, sets and torch.Size stay data', () => {
    const ds = TorchFile.open(P('deepspeed_like_zip.pt'));
    const root = ds.root as PyDict;
    expect(root.entries.get('global_steps')).toBe(10);
    expect(root.entries.get('optimizer')).toBeNull();
    expect(root.entries.get('sparse_tensor_module_names')).toEqual(new PySet([]));
    expect(((root.entries.get('param_shapes') as PyDict[])[0]!.entries.get('conv_in.weight') as TorchSize).dims).toEqual([4, 3, 3, 3]);
    expect(ds.foreignGlobals).toEqual([]);
    ds.close();
    const params = TorchFile.open(P('parameters_zip.pt'));
    expect((params.root as PyDict).entries.get('alpha')).toBe(8);
    expect(params.info('lora_A').requiresGrad).toBe(true);
    params.close();
  });

  it('malicious_zip.pt is refused before anything is called, naming what it would have run', () => {
    const err = (() => {
      try {
        TorchFile.open(P('malicious_zip.pt'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TorchCheckpointError);
    expect((err as Error).message).toMatch(/malicious_zip\.pt: the pickle refers to posix\.system, which can run code when the file is loaded with torch\.load: refused \(nothing in the file was run\)/);
  });

  it("malicious_zip.pt with its payload made visible: Python's pickle runs it, this reader does not", () => {
    // os.system('true') leaves no trace; '>pwn' (same length, so the pickle stays valid) creates the file pwn
    const bytes = Buffer.from(readFileSync(P('malicious_zip.pt')));
    const at = bytes.indexOf(Buffer.from('X\x04\x00\x00\x00true', 'latin1'));
    expect(at).toBeGreaterThan(0);
    bytes.write('>pwn', at + 5, 'latin1');
    const file = write('malicious-visible.pt', bytes);
    const pkl = (expected.files['malicious_zip.pt'] as unknown as { zip_entries: { name: string; data_offset: number; size: number }[] }).zip_entries[0]!;
    const python = spawnSync('python3', ['-c', [
      'import io, pickle, sys',
      `data = open(sys.argv[1], "rb").read()[${pkl.data_offset}:${pkl.data_offset + pkl.size}]`,
      'class U(pickle.Unpickler):',
      '    def find_class(self, m, n): return (lambda *a: None) if m.startswith("torch") else super().find_class(m, n)',
      '    def persistent_load(self, pid): return None',
      'U(io.BytesIO(data)).load()',
    ].join('\n'), file], { cwd: tmp.path, encoding: 'utf8' });
    if (python.error === undefined) {
      expect(existsSync(join(tmp.path, 'pwn')), python.stderr).toBe(true); // the payload is live
      rmSync(join(tmp.path, 'pwn'));
    }
    expect(() => TorchFile.open(file)).toThrow(/malicious-visible\.pt: the pickle refers to posix\.system/);
    expect(existsSync(join(process.cwd(), 'pwn'))).toBe(false);
    expect(existsSync(join(tmp.path, 'pwn'))).toBe(false);
  });
});

const TENSORS = {
  'conv.weight': { dtype: 'F32' as const, shape: [2, 1, 2, 2], data: Float32Array.from({ length: 8 }, (_, i) => i / 4 - 1) },
  'conv.bias': { dtype: 'F16' as const, shape: [2], data: toFloat16Bits(Float32Array.of(0.5, -2)) },
  steps: { dtype: 'I64' as const, shape: [], data: BigInt64Array.of(-3n) },
  mask: { dtype: 'BOOL' as const, shape: [3], data: Uint8Array.of(1, 0, 1) },
};

/** Every tensor of `f` as [key, dtype, shape, raw bytes]. */
function contents(f: TorchFile) {
  return f.keys().map((k) => {
    const r = f.readRaw(k);
    return [k, r.dtype, r.shape, Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('hex')];
  });
}

describe('zip container', () => {
  const reference = () => [
    ['conv.weight', 'F32', [2, 1, 2, 2], Buffer.from(TENSORS['conv.weight'].data.buffer).toString('hex')],
    ['conv.bias', 'F16', [2], Buffer.from(TENSORS['conv.bias'].data.buffer).toString('hex')],
    ['steps', 'I64', [], Buffer.from(TENSORS.steps.data.buffer).toString('hex')],
    ['mask', 'BOOL', [3], '010001'],
  ];

  it('a file written like torch.save reads back every tensor; the archive folder comes from the first entry', () => {
    const f = TorchFile.open(write('plain.pt', torchSave(TENSORS, { prefix: 'any name' })));
    expect(contents(f)).toEqual(reference());
    f.close();
  });

  it('ZIP64 records (forced on a small file) read like the plain zip', () => {
    const bytes = torchSave(TENSORS, { zip64: true });
    expect(Buffer.from(bytes).indexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBeGreaterThan(0); // zip64 end record
    const f = TorchFile.open(write('zip64.pt', bytes));
    expect(contents(f)).toEqual(reference());
    f.close();
  });

  it('big-endian storages (byteorder record) read to the same values', () => {
    const f = TorchFile.open(write('big.pt', torchSave(TENSORS, { byteorder: 'big' })));
    expect(f.byteOrder).toBe('big');
    expect(contents(f)).toEqual(reference());
    expect(Array.from(f.readFloat32('conv.bias'))).toEqual([0.5, -2]);
    f.close();
  });

  it('a compressed entry is refused naming the entry (torch never compresses; reading it would need the whole entry in memory)', () => {
    const p = new PickleWriter().proto(2).orderedDict().str('w');
    pickleTensor(p, '0', 'F32', [2]).setitem().stop();
    const file = write('deflated.pt', zipArchive([
      { name: 'archive/data.pkl', data: p.toBytes() },
      { name: 'archive/data/0', data: new Uint8Array(8), method: 8 },
    ]));
    expect(() => TorchFile.open(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: zip entry archive/data/0 is compressed \\(method 8\\); PyTorch checkpoints store their entries uncompressed`));
  });

  it('a checkpoint over 4 GiB (sparse) opens and reads a view at its end and an entry past 4 GiB without reading the rest', () => {
    const file = join(tmp.path, 'huge.pt');
    const hugeBytes = 2 ** 32 + 1024;
    writeSparseCheckpoint(file, hugeBytes);
    const rss = process.memoryUsage().rss;
    const t0 = performance.now();
    const f = TorchFile.open(file);
    expect(f.info('huge').shape).toEqual([hugeBytes / 4]);
    expect(Array.from(f.readFloat32('tail'))).toEqual([1, 2, 3, 4]);
    expect(Array.from(f.readFloat32('after'))).toEqual([5, 6]);
    f.close();
    const ms = performance.now() - t0;
    const grew = (process.memoryUsage().rss - rss) / 2 ** 20;
    expect(ms).toBeLessThan(2000);
    expect(grew).toBeLessThan(64);
  });
});

describe('pickle opcodes and globals', () => {
  /** A zip checkpoint whose data.pkl is `pkl`, with storage entries `data/<key>`. */
  const checkpoint = (name: string, pkl: PickleWriter, storages: Record<string, Uint8Array> = {}) =>
    write(name, zipArchive([
      { name: 'archive/data.pkl', data: pkl.toBytes() },
      ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    ]));
  const f32 = (...xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);

  it('protocol 0 text opcodes (as pickle.dumps(protocol=0) writes them) give the same values', () => {
    // {'a': [1, 2.5, 'x', None, True, 12345678901234567890], 'b': ('y', u'\u00e9')} in protocol 0, with PUT/GET
    const text = "(dp0\nVa\np1\n(lp2\nI1\naF2.5\naS'x'\np3\naNaI01\naL12345678901234567890L\nasVb\np4\n(g3\nV\\u00e9\ntp5\ns.";
    const p = new PickleWriter().raw(Buffer.from(text, 'latin1'));
    const f = TorchFile.open(checkpoint('proto0.pt', p));
    const root = f.root as PyDict;
    expect(root.entries.get('a')).toEqual([1, 2.5, 'x', null, true, 12345678901234567890n]);
    expect(root.entries.get('b')).toEqual(['x', 'é']);
    expect(f.keys()).toEqual([]);
    f.close();
  });

  it('protocol 4 and 5 framing, short strings and bytes, memoize, sets and bytearrays', () => {
    const p = new PickleWriter().proto(5).op(0x95, 0, 0, 0, 0, 0, 0, 0, 0); // FRAME (length not checked)
    p.op(0x7d, 0x94); // EMPTY_DICT MEMOIZE
    p.op(0x8c, 1).raw('s').op(0x94).op(0x8f, 0x94).op(0x28).int(1).int(2).op(0x90).op(0x73); // 's': {1, 2} via ADDITEMS
    p.op(0x8c, 1).raw('f').op(0x28).int(3).op(0x91).op(0x73); // 'f': frozenset({3})
    p.op(0x8c, 1).raw('b').bytes(Uint8Array.of(0, 255)).op(0x73);
    p.op(0x8c, 1).raw('a').op(0x96, 2, 0, 0, 0, 0, 0, 0, 0, 7, 8).op(0x98).op(0x73); // BYTEARRAY8, READONLY_BUFFER
    p.op(0x8c, 1).raw('m').op(0x68, 1).op(0x73); // BINGET of the memoized 's'
    p.stop();
    const f = TorchFile.open(checkpoint('proto5.pt', p));
    const root = f.root as PyDict;
    f.close();
    expect(root.entries.get('s')).toEqual(new PySet([1, 2]));
    expect(root.entries.get('f')).toEqual(new PySet([3], true));
    expect(root.entries.get('b')).toEqual(Uint8Array.of(0, 255));
    expect(root.entries.get('a')).toEqual(Uint8Array.of(7, 8));
    expect(root.entries.get('m')).toBe('s');
  });

  it('a Lightning checkpoint: numpy scalars are numbers, unknown classes are inert records, the state dict is read', () => {
    const f = TorchFile.open(write('lightning.ckpt', torchSave(TENSORS, { lightning: true })));
    const root = f.root as PyDict;
    expect(root.entries.get('global_step')).toBe(1234);
    expect(root.entries.get('epoch')).toBe(3);
    const hp = root.entries.get('hyper_parameters') as PyObject;
    expect(hp).toBeInstanceOf(PyObject);
    expect(hp.cls).toBe('pytorch_lightning.utilities.parsing.AttributeDict');
    expect([...hp.entries]).toEqual([['base_learning_rate', 1e-4], ['scale_factor', 0.18215]]);
    expect(f.foreignGlobals).toEqual(['pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint', 'pytorch_lightning.utilities.parsing.AttributeDict']);
    expect(contents(f)).toEqual(contents(TorchFile.open(write('plain2.pt', torchSave(TENSORS)))));
    f.close();
  });

  it('a pickled module (torch.save(model)): tensors under _parameters/_buffers/_modules get state-dict names', () => {
    // Net(conv=Conv2d) pickled: NEWOBJ(Net) BUILD({'_modules': {'conv': NEWOBJ(Conv2d) BUILD({'_parameters': {'weight': P}})}, '_buffers': {'step': T}})
    const p = new PickleWriter().proto(2);
    p.global('copyreg', '_reconstructor').global('__main__', 'Net').global('builtins', 'object').none().tuple(3).reduce(); // protocol 0/1 objects
    p.emptyDict().str('training').bool(true).setitem();
    p.str('_modules').orderedDict().str('conv').global('torch.nn.modules.conv', 'Conv2d').emptyTuple().newobj();
    p.emptyDict().str('_parameters').orderedDict().str('weight').global('torch._utils', '_rebuild_parameter');
    pickleTensor(p, '0', 'F32', [2]).bool(true).orderedDict().tuple(3).reduce().setitem().setitem().build();
    p.setitem().setitem();
    p.str('_buffers').orderedDict().str('step');
    pickleTensor(p, '1', 'F32', [1]).setitem().setitem();
    p.build().stop();
    const f = TorchFile.open(checkpoint('module.pt', p, { 0: f32(1, 2), 1: f32(9) }));
    expect(f.keys()).toEqual(['conv.weight', 'step']);
    expect(Array.from(f.readFloat32('conv.weight'))).toEqual([1, 2]);
    expect(f.foreignGlobals).toEqual(['copyreg._reconstructor', '__main__.Net', 'torch.nn.modules.conv.Conv2d']);
    f.close();
  });

  it('torch 2.x forms: _rebuild_tensor_v3 over an UntypedStorage, _rebuild_parameter_with_state, _rebuild_from_type_v2', () => {
    const p = new PickleWriter().proto(2).emptyDict().mark();
    // v3: (UntypedStorage of 12 bytes, offset 1 (in float32 elements), [2], [1], False, OrderedDict(), torch.float32)
    p.str('v3').global('torch._utils', '_rebuild_tensor_v3').mark();
    p.mark().str('storage').global('torch', 'UntypedStorage').str('u').str('cpu').int(12).tuple(5).binpersid();
    p.int(1).ints([2]).ints([1]).bool(false).orderedDict().global('torch', 'float32').tuple(7).reduce();
    p.str('param').global('torch._utils', '_rebuild_parameter_with_state').mark();
    pickleTensor(p, 'p', 'F32', [1]).bool(true).orderedDict().emptyDict().tuple(4).reduce();
    p.str('typed').global('torch._tensor', '_rebuild_from_type_v2').mark().global('torch._utils', '_rebuild_tensor_v2');
    p.global('torch', 'Tensor').mark().mark().str('storage').global('torch', 'HalfStorage').str('h').str('cpu').int(1).tuple(5).binpersid();
    p.int(0).ints([1]).ints([1]).bool(false).orderedDict().tuple(6).emptyDict().tuple(4).reduce();
    p.setitems().stop();
    const f = TorchFile.open(checkpoint('v3.pt', p, { u: f32(7, 8, 9), p: f32(4), h: new Uint8Array(toFloat16Bits(Float32Array.of(1.5)).buffer) }));
    expect(f.keys()).toEqual(['v3', 'param', 'typed']);
    expect(Array.from(f.readFloat32('v3'))).toEqual([8, 9]);
    expect(f.info('param').requiresGrad).toBe(true);
    expect(Array.from(f.readFloat32('param'))).toEqual([4]);
    expect(f.info('typed').dtype).toBe('F16');
    expect(Array.from(f.readFloat32('typed'))).toEqual([1.5]);
    f.close();
  });

  it('legacy storage views (older torch pickled a storage slice as a view of its root storage)', () => {
    // {'whole': tensor over storage r (4 floats), 'part': tensor over view v = r[2:4]}
    const p = new PickleWriter().proto(2).emptyDict().mark();
    const storage = (view: boolean) => {
      p.mark().str('storage').global('torch', 'FloatStorage').str('r').str('cpu').int(4);
      if (view) p.str('v').int(2).int(2).tuple(3);
      else p.none();
      p.tuple(6).binpersid();
    };
    p.str('whole').global('torch._utils', '_rebuild_tensor_v2').mark();
    storage(false);
    p.int(0).ints([4]).ints([1]).bool(false).orderedDict().tuple(6).reduce();
    p.str('part').global('torch._utils', '_rebuild_tensor_v2').mark();
    storage(true);
    p.int(0).ints([2]).ints([1]).bool(false).orderedDict().tuple(6).reduce();
    p.setitems().stop();
    const f = TorchFile.open(write('legacy-view.pt', legacyFile(p.toBytes(), [{ key: 'r', numel: 4, data: new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer) }])));
    expect(f.format).toBe('legacy');
    expect(Array.from(f.readFloat32('whole'))).toEqual([1, 2, 3, 4]);
    expect(Array.from(f.readFloat32('part'))).toEqual([3, 4]);
    expect(f.info('part').storage.key).toBe('v');
    f.close();
  });

  it('tensors of a dtype the converter cannot use are left out and listed, the others read', () => {
    const p = new PickleWriter().proto(2).emptyDict().mark();
    p.str('c').global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', 'ComplexFloatStorage').str('c').str('cpu').int(1).tuple(5).binpersid();
    p.int(0).ints([1]).ints([1]).bool(false).orderedDict().tuple(6).reduce();
    p.str('w');
    pickleTensor(p, 'w', 'F32', [1]).setitems().stop();
    const f = TorchFile.open(checkpoint('complex.pt', p, { c: new Uint8Array(8), w: f32(3) }));
    expect(f.keys()).toEqual(['w']);
    expect(f.skipped).toEqual(["c (complex64: not supported)"]);
    f.close();
  });

  it('the weight source over a torch file reads F16 bits and refuses NaN like the safetensors one', () => {
    const half = { w: { dtype: 'F16' as const, shape: [2], data: Uint16Array.of(0x3c00, 0x7e00) } };
    const f = TorchFile.open(write('nan.pt', torchSave(half)));
    const s = fileSource(f, '', 'nan.pt');
    expect(s.dtype('w')).toBe('F16');
    expect(() => s.readF16Bits('w')).toThrow(/nan\.pt: weight 'w' holds NaN \(element 1 of 2\)/);
    expect(() => s.read('w')).toThrow(/nan\.pt: weight 'w' holds NaN \(element 1 of 2\)/);
    f.close();
  });

  it('a file that is not a checkpoint says what it is not', () => {
    expect(() => TorchFile.open(write('text.pt', new TextEncoder().encode('hello, this is text')))).toThrow(TorchCheckpointError);
    expect(() => TorchFile.open(write('text.pt', new TextEncoder().encode('hello, this is text')))).toThrow(/text\.pt: not a PyTorch checkpoint \(neither a zip archive nor a legacy torch\.save file\)/);
  });
});
