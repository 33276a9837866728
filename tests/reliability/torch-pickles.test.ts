// Hostile and broken PyTorch checkpoints: payloads that run commands when Python unpickles them, truncated files,
// wrong magic, pickles that end early or declare huge lengths, deep nesting. Each is refused (or read as inert data)
// with a TorchCheckpointError that names the file and quotes nothing from it; no payload ever runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BundleError, convertCheckpoint } from '../../src/core/ml/bundle';
import { PyDict, PyObject, TorchCheckpointError, TorchFile } from '../../src/core/ml/weights';
import { tempDir } from '../helpers/folder';
import { golden } from '../ml/weights.helpers';
import { legacyFile, PickleWriter, pickleTensor, torchSave, zipArchive } from '../ml/torch.helpers';

const SECRET = 'TOPSECRET';
let tmp: ReturnType<typeof tempDir>;
let marker: string; // what every payload below would create
beforeAll(() => {
  tmp = tempDir('difflabel-reliability-torch-');
  marker = join(tmp.path, 'payload-ran');
});
afterAll(() => tmp.cleanup());

const python = spawnSync('python3', ['-c', 'import pickle'], { encoding: 'utf8' }).status === 0;
let named = 0;
const file = (bytes: Uint8Array, name = `f${named++}.pt`) => {
  const p = join(tmp.path, name);
  writeFileSync(p, bytes);
  return p;
};
/** `pkl` as the data.pkl of a zip checkpoint, with optional storage entries. */
const zipOf = (pkl: Uint8Array, storages: Record<string, Uint8Array> = {}) =>
  zipArchive([{ name: 'archive/data.pkl', data: pkl }, ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data }))]);

/** Opening `path` fails with a TorchCheckpointError that names the file, matches `pattern` and quotes nothing. */
function refused(path: string, pattern: RegExp): string {
  let err: unknown;
  try {
    TorchFile.open(path).close();
  } catch (e) {
    err = e;
  }
  expect(err, `${path} was read`).toBeInstanceOf(TorchCheckpointError);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${path}: `), msg).toBe(true);
  expect(msg).toMatch(pattern);
  expect(msg).not.toContain(SECRET);
  expect(msg).not.toContain('\n');
  return msg;
}

/** Python's own pickle.load runs `pkl` (proving the payload is live); the marker is removed again. */
function pythonRunsPayload(pkl: Uint8Array): void {
  const p = file(pkl, `payload-${named++}.pkl`);
  const r = spawnSync('python3', ['-c', 'import pickle, sys; pickle.load(open(sys.argv[1], "rb"))', p], { encoding: 'utf8' });
  expect(existsSync(marker), `python did not run the payload: ${r.stderr}`).toBe(true);
  rmSync(marker);
}

describe('payloads that run code under torch.load / pickle.load', () => {
  const touch = () => `touch ${marker}`;
  const payloads: [string, () => PickleWriter, RegExp, boolean][] = [
    ['posix.system', () => new PickleWriter().proto(2).global('posix', 'system').str(touch()).tuple(1).reduce().stop(), /refers to posix\.system/, true],
    ['os.system', () => new PickleWriter().proto(2).global('os', 'system').str(touch()).tuple(1).reduce().stop(), /refers to os\.system/, true],
    ['nt.system (how Windows pickles os.system)', () => new PickleWriter().proto(2).global('nt', 'system').str(touch()).tuple(1).reduce().stop(), /refers to nt\.system/, false],
    ['subprocess.check_call', () => new PickleWriter().proto(2).global('subprocess', 'check_call').emptyList().mark().str('touch').str(marker).appends().tuple(1).reduce().stop(), /refers to subprocess\.check_call/, true],
    ['builtins.exec', () => new PickleWriter().proto(2).global('builtins', 'exec').str(`open(${JSON.stringify(marker)}, 'w').close()`).tuple(1).reduce().stop(), /refers to builtins\.exec/, true],
    ['__builtin__.eval (protocol 2 spelling)', () => new PickleWriter().proto(2).global('__builtin__', 'eval').str(`__import__('os').system(${JSON.stringify(touch())})`).tuple(1).reduce().stop(), /refers to builtins\.eval/, true],
    ['getattr(__import__("os"), "system")', () => new PickleWriter().proto(2).global('builtins', 'getattr').global('builtins', '__import__').str('os').tuple(1).reduce().str('system').tuple(2).reduce().str(touch()).tuple(1).reduce().stop(), /refers to builtins\.getattr/, true],
    ['STACK_GLOBAL (protocol 4)', () => new PickleWriter().proto(4).op(0x8c, 5).raw('posix').op(0x8c, 6).raw('system').op(0x93).str(touch()).tuple(1).reduce().stop(), /refers to posix\.system/, true],
    ['INST (protocol 0)', () => new PickleWriter().raw(`(S'${touch()}'\nios\nsystem\n.`), /refers to os\.system/, true],
    ['OBJ (protocol 1)', () => new PickleWriter().mark().raw('cposix\nsystem\n').str(touch()).op(0x6f).stop(), /refers to posix\.system/, true],
  ];

  it.each(payloads)('%s is refused before anything is called; Python itself would have run it', (_what, build, pattern, live) => {
    const pkl = build().toBytes();
    if (python && live) pythonRunsPayload(pkl);
    refused(file(zipOf(pkl)), new RegExp(`${pattern.source}, which can run code when the file is loaded with torch\\.load: refused \\(nothing in the file was run\\)`));
    expect(existsSync(marker)).toBe(false);
  });

  it('the same payload hidden in a legacy-format file is refused too', () => {
    // the golden legacy file with its object pickle's first GLOBAL turned into posix.system
    const bytes = Buffer.from(readFileSync(golden('torch_pickles_P', 'state_dict_legacy.pt')));
    const at = bytes.indexOf('ccollections\nOrderedDict\n');
    Buffer.from('csubprocess\ncheck_output\n').copy(bytes, at); // same length: the pickle stays well-formed
    refused(file(bytes), /refers to subprocess\.check_output/);
  });

  it('a global whose name is not an identifier is refused without quoting it', () => {
    const msg = refused(file(zipOf(new PickleWriter().proto(2).raw(`cos\n${SECRET} rm -rf\n`).str('x').tuple(1).reduce().stop().toBytes())), /refers to os\.…/);
    expect(msg).not.toContain('rm -rf');
  });

  it('a call to any other function is never made: it is recorded as inert data and the tensors still read', () => {
    // shutil.copyfile(src, marker) is not on the refusal list: reading it must still not call it
    const src = file(new Uint8Array([1]), 'copy-source');
    const payload = () => new PickleWriter().global('shutil', 'copyfile').str(src).str(marker).tuple(2).reduce();
    if (python) pythonRunsPayload(new PickleWriter().proto(2).raw(payload().toBytes()).stop().toBytes());
    const p = new PickleWriter().proto(2).emptyDict().mark().str('w');
    pickleTensor(p, '0', 'F32', [2]);
    p.str('__payload__').raw(payload().toBytes()).setitems().stop();
    const f = TorchFile.open(file(zipOf(p.toBytes(), { 0: new Uint8Array(Float32Array.of(1, 2).buffer) })));
    const rec = (f.root as PyDict).entries.get('__payload__') as PyObject;
    expect(rec).toBeInstanceOf(PyObject);
    expect([rec.cls, rec.args]).toEqual(['shutil.copyfile', [src, marker]]);
    expect(f.foreignGlobals).toEqual(['shutil.copyfile']);
    expect(Array.from(f.readFloat32('w'))).toEqual([1, 2]);
    f.close();
    expect(existsSync(marker)).toBe(false);
  });

  it('models convert refuses the malicious golden file and writes nothing', async () => {
    const out = join(tmp.path, 'out');
    mkdirSync(out);
    const err = await convertCheckpoint(golden('torch_pickles_P', 'malicious_zip.pt'), join(out, 'bundle')).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as Error).message).toMatch(/malicious_zip\.pt is not a readable PyTorch checkpoint: .*refers to posix\.system/);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('broken files', () => {
  const small = () => torchSave({ w: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, [SECRET]: { dtype: 'I64', shape: [1], data: BigInt64Array.of(5n) } });

  it('a zip checkpoint cut at every length is refused, naming the file', () => {
    const whole = small();
    for (let n = 0; n < whole.length; n++) refused(file(whole.subarray(0, n), 'cut.pt'), /./);
  });

  it('a legacy checkpoint cut at every length is refused, naming the file', () => {
    const whole = readFileSync(golden('torch_pickles_P', 'state_dict_legacy.pt'));
    for (let n = 0; n < whole.length; n++) refused(file(whole.subarray(0, n), 'cut-legacy.pt'), /truncated|too short|not a PyTorch checkpoint/);
  });

  it('wrong magic: text, a plain pickle, a zip without data.pkl, entries outside a folder, a wrong legacy magic number', () => {
    refused(file(new TextEncoder().encode(`${SECRET} `.repeat(20))), /not a PyTorch checkpoint \(neither a zip archive nor a legacy torch\.save file\)$/);
    refused(file(new PickleWriter().proto(2).emptyDict().str(SECRET).str(SECRET).setitem().stop().toBytes()), /not a legacy torch\.save file: it does not start with torch's magic number$/);
    refused(file(new PickleWriter().proto(2).int(0x1950a86a20f9469cfc6dn).stop().toBytes()), /not a legacy torch\.save file: it does not start with torch's magic number$/);
    refused(file(zipArchive([{ name: 'word/document.xml', data: new TextEncoder().encode(SECRET) }])), /the zip archive holds no data\.pkl: not a PyTorch checkpoint$/);
    refused(file(zipArchive([{ name: 'data.pkl', data: new PickleWriter().proto(2).none().stop().toBytes() }])), /the zip archive holds no data\.pkl: not a PyTorch checkpoint$/);
  });

  it('damaged zip archives: encrypted or headerless entries, missing ZIP64 records, a storage without its entry, a bad byte order', () => {
    const zip = Buffer.from(small());
    const cd = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); // data.pkl's directory entry
    const encrypted = Buffer.from(zip);
    encrypted[cd + 8]! |= 1;
    refused(file(encrypted), /zip entry archive\/data\.pkl is encrypted$/);
    const headerless = Buffer.from(zip);
    headerless.writeUInt32LE(0, zip.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), 4)); // data/0's local header
    refused(file(headerless), /zip entry archive\/data\/0 is damaged \(no local header\)$/);
    const no64 = Buffer.from(zip);
    no64.writeUInt16LE(0xffff, zip.length - 22 + 10);
    refused(file(no64), /the zip archive needs ZIP64 records but has none \(damaged\?\)$/);

    const p = new PickleWriter().proto(2).emptyDict().str(SECRET);
    pickleTensor(p, '0', 'F32', [1]).setitem().stop();
    refused(file(zipOf(p.toBytes())), /storage 0 has no entry data\/0 in the archive$/);
    const order = zipArchive([{ name: 'archive/data.pkl', data: p.toBytes() }, { name: 'archive/byteorder', data: new TextEncoder().encode(SECRET) }]);
    refused(file(order), /the byteorder record is neither little nor big$/);
  });

  it('pickles that end early or are malformed', () => {
    const cases: [PickleWriter, RegExp][] = [
      [new PickleWriter().proto(2).emptyDict().str('x'), /the pickle ends before its STOP opcode \(truncated\?\)$/],
      [new PickleWriter().proto(2).reduce().stop(), /malformed pickle: REDUCE needs 2 values on the stack \(at byte 2\)$/],
      [new PickleWriter().proto(2).op(0xff).stop(), /unknown pickle opcode 0xff at byte 2$/],
      [new PickleWriter().proto(2).get(7).stop(), /malformed pickle: memo entry 7 was never stored \(at byte 2\)$/],
      [new PickleWriter().proto(2).emptyTuple().str(SECRET).append().stop(), /malformed pickle: APPEND to a tuple \(at byte 17\)$/],
      [new PickleWriter().proto(2).str(SECRET).str('k').str('v').setitem().stop(), /malformed pickle: SETITEM on a str \(at byte 28\)$/],
      [new PickleWriter().proto(2).int(1).op(0x74).stop(), /malformed pickle: TUPLE without a MARK \(at byte 4\)$/],
      [new PickleWriter().proto(2).op(0x82, 1).stop(), /the pickle uses the copyreg extension registry \(EXT1\), which checkpoints never do$/],
      [new PickleWriter().proto(5).op(0x97).stop(), /the pickle refers to an out-of-band buffer \(NEXT_BUFFER\), which a file cannot carry$/],
      [new PickleWriter().proto(2).str(SECRET).binpersid().stop(), /malformed pickle: a persistent id that is not a storage \(at byte 16\)$/],
      [new PickleWriter().proto(9).none().stop(), /unsupported pickle protocol 9$/],
      [new PickleWriter().proto(2).raw('I12x\n').stop(), /malformed pickle: INT is not a number \(at byte 2\)$/],
    ];
    for (const [p, pattern] of cases) refused(file(zipOf(p.toBytes())), pattern);
  });

  it('huge declared lengths are refused before anything that large is read or allocated', () => {
    const u32 = (op: number, n: number) => {
      const b = Buffer.alloc(5);
      b[0] = op;
      b.writeUInt32LE(n, 1);
      return b;
    };
    const u64 = (op: number, n: bigint) => {
      const b = Buffer.alloc(9);
      b[0] = op;
      b.writeBigUInt64LE(n, 1);
      return b;
    };
    refused(file(zipOf(new PickleWriter().proto(2).raw(u32(0x58, 0xffffffff)).raw(SECRET).toBytes())), /a 4294967295-byte BINUNICODE runs past the end of the pickle \(truncated\?\)$/);
    refused(file(zipOf(new PickleWriter().proto(4).raw(u64(0x8d, 2n ** 62n)).toBytes())), /a 4611686018427387904-byte BINUNICODE8 runs past the end of the pickle/);
    refused(file(zipOf(new PickleWriter().proto(4).raw(u64(0x8e, 2n ** 63n)).toBytes())), /a 9223372036854775808-byte BINBYTES8 runs past the end of the pickle/);
    refused(file(zipOf(new PickleWriter().proto(2).raw(u32(0x8b, 0x7fffffff)).toBytes())), /a 2147483647-byte LONG4 runs past the end of the pickle/);

    // an archive entry, a storage and a tensor larger than the file
    const zip = Buffer.from(small());
    const cdEntry = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const huge = Buffer.from(zip);
    huge.writeUInt32LE(0xfffffff0, cdEntry + 20);
    huge.writeUInt32LE(0xfffffff0, cdEntry + 24);
    refused(file(huge), /zip entry archive\/version \(4294967280 bytes at \d+\) runs past the end of the \d+-byte file \(truncated\?\)$/);
    const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    const cd = Buffer.from(zip);
    cd.writeUInt32LE(0xffffff00, eocd + 12);
    refused(file(cd), /the zip central directory \(4294967040 bytes at \d+\) runs past the end of the \d+-byte file/);

    const tensor = (storageNumel: number | bigint, shape: number[], stride: number[], offset = 0) => {
      const p = new PickleWriter().proto(2).emptyDict().str(SECRET).global('torch._utils', '_rebuild_tensor_v2').mark();
      p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(storageNumel).tuple(5).binpersid();
      p.int(offset).ints(shape).ints(stride).bool(false).orderedDict().tuple(6).reduce().setitem().stop();
      return file(zipOf(p.toBytes(), { 0: new Uint8Array(16) }));
    };
    refused(tensor(2 ** 50, [4], [1]), /storage 0 holds 16 bytes but the pickle declares 1125899906842624 float32 elements$/);
    refused(tensor(4, [2 ** 40, 2 ** 40], [1, 1]), /a tensor reaches past the end of its storage \(4 elements\)$/);
    refused(tensor(4, [2], [1], 3), /a tensor reaches past the end of its storage \(4 elements\)$/);
    refused(tensor(4, [2], [-1], 1), /a tensor has a negative or non-integer shape, stride or offset$/);
    refused(tensor(4, [2.5], [1]), /a tensor has a negative or non-integer shape, stride or offset$/);
    // a zero stride may repeat 4 elements 2^40 times (as expand() does): it opens, but is not materialised
    const expanded = TorchFile.open(tensor(4, [2 ** 40], [0]));
    expect(() => expanded.readRaw(SECRET)).toThrow(/: tensor '[^']+' has 1099511627776 elements \(4398046511104 bytes\), too many to read into memory$/);
    expanded.close();
    // legacy: a storage whose element count runs past the end of the file
    const legacy = Buffer.from(readFileSync(golden('torch_pickles_P', 'state_dict_legacy.pt')));
    legacy.writeBigInt64LE(2n ** 60n, 2298); // the first storage's element count (expected.json: legacy_storages)
    refused(file(legacy), /legacy storage 1 of 17: its element count says 1152921504606846976, the pickle 4/);
  });

  it('long flat containers (a million-item APPENDS, a 300,000-entry dict) read without overflowing the call stack', () => {
    const p = new PickleWriter().proto(2).emptyDict().str('list').emptyList().mark();
    for (let i = 0; i < 1_000_000; i++) p.op(0x4e); // NONE
    p.appends().setitem().str('dict').emptyDict().mark();
    for (let i = 0; i < 300_000; i++) p.int(i).none();
    p.setitems().setitem().stop();
    const f = TorchFile.open(file(zipOf(p.toBytes())));
    const root = f.root as PyDict;
    expect((root.entries.get('list') as unknown[]).length).toBe(1_000_000);
    expect((root.entries.get('dict') as PyDict).entries.size).toBe(300_000);
    f.close();
  });

  it('legacy files whose storage list and pickle disagree', () => {
    const one = new PickleWriter().proto(2).emptyDict().str(SECRET);
    pickleTensor(one, 'r', 'F32', [1]).setitem().stop();
    const r = { key: 'r', numel: 1, data: new Uint8Array(4) };
    refused(file(legacyFile(one.toBytes(), [r, { key: SECRET, numel: 1, data: new Uint8Array(4) }])), /legacy storage 2 of 2 is listed but no tensor uses it$/);
    refused(file(legacyFile(one.toBytes(), [])), /a storage the pickle uses is not in the file$/);
  });

  it('deep nesting is refused; a list that contains itself is not followed forever', () => {
    const deep = new PickleWriter().proto(2);
    for (let i = 0; i < 100_000; i++) deep.emptyList();
    for (let i = 0; i < 99_999; i++) deep.append();
    refused(file(zipOf(deep.stop().toBytes())), /objects are nested more than 1000 levels deep$/);

    const cycle = new PickleWriter().proto(2).emptyList().put().get(0).append().stop();
    const f = TorchFile.open(file(zipOf(cycle.toBytes())));
    expect(f.keys()).toEqual([]);
    const root = f.root as unknown[];
    expect(root[0]).toBe(root);
    f.close();
  });
});
