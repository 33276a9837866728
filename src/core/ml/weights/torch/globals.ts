// The globals a checkpoint pickle may name, modelled on torch's weights-only unpickler: tensor rebuild functions,
// storage classes, dtypes, OrderedDict, torch.Size, sets, numpy scalars (Lightning's epoch/global_step). Each is a
// pure function written here. Every other global becomes an inert placeholder (calling it only records the call),
// so Lightning, DeepSpeed and pickled-module files still yield their tensors. A few modules are refused outright:
// they exist in a pickle only to run commands. That refusal is for a clear message; safety comes from never calling.
import { f16BitsToF32 } from '../../graph/half';
import { FormatError } from './format';
import { PyBuiltin, PyDict, PyGlobal, PyObject, PySet, type Buildable } from './pickle';
import { dims, DTYPES, rebuildTensor, STORAGE_DTYPES, StorageType, TorchDType, TorchSize, TorchTensor } from './tensor';

const BLOCKED_MODULES = new Set(['os', 'posix', 'nt', 'sys', 'subprocess']);

/** builtins that build plain data; any other builtin (eval, exec, getattr, __import__, open, …) is refused. */
const DATA_BUILTINS = new Set(['object', 'int', 'float', 'complex', 'bool', 'str', 'bytes', 'bytearray', 'list', 'tuple', 'dict', 'slice', 'range']);

/** Types torch pickles by name that the reader needs no code for: inert, and not worth reporting. */
const KNOWN_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter', 'torch.device', 'torch.storage.TypedStorage']);

const ident = (s: string) => /^[A-Za-z_][A-Za-z0-9_.]{0,99}$/.test(s);

/** `module.name` as messages and warnings show it: names that are not identifiers are not quoted. */
export function globalName(module: string, name: string): string {
  return `${ident(module) ? module : module.split('.')[0]!.replace(/[^A-Za-z0-9_]/g, '') || '…'}.${ident(name) ? name : '…'}`;
}

class NumpyDType implements Buildable {
  order = '=';
  constructor(readonly descr: string) {}
  setState(state: unknown): void {
    if (Array.isArray(state) && typeof state[1] === 'string') this.order = state[1];
  }
}

/** numpy.core.multiarray.scalar(dtype, bytes): a number (Lightning pickles epoch and global_step as numpy ints). */
function numpyScalar(args: readonly unknown[]): unknown {
  const [dt, data] = args;
  const m = dt instanceof NumpyDType ? /^([<>|=]?)([biuf?])(\d*)$/.exec(dt.descr) : null;
  if (!m || !(data instanceof Uint8Array)) return new PyObject('numpy.core.multiarray.scalar', args);
  const kind = m[2] === '?' ? 'b' : m[2]!;
  const size = Number(m[3] || 1);
  if (data.length !== size) return new PyObject('numpy.core.multiarray.scalar', args);
  const little = (m[1] || (dt as NumpyDType).order) !== '>';
  const v = new DataView(data.buffer, data.byteOffset, size);
  const big = (x: bigint) => (x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x);
  switch (`${kind}${size}`) {
    case 'b1': return data[0] !== 0;
    case 'i1': return v.getInt8(0);
    case 'u1': return v.getUint8(0);
    case 'i2': return v.getInt16(0, little);
    case 'u2': return v.getUint16(0, little);
    case 'i4': return v.getInt32(0, little);
    case 'u4': return v.getUint32(0, little);
    case 'i8': return big(v.getBigInt64(0, little));
    case 'u8': return big(v.getBigUint64(0, little));
    case 'f2': return f16BitsToF32(v.getUint16(0, little));
    case 'f4': return v.getFloat32(0, little);
    case 'f8': return v.getFloat64(0, little);
    default: return new PyObject('numpy.core.multiarray.scalar', args);
  }
}

/** _codecs.encode(str, 'latin1'): how protocol 2 pickles Python 3 bytes. */
function encode([s, encoding]: readonly unknown[]): Uint8Array {
  const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace('_', '-') : 'utf-8';
  if (typeof s !== 'string') throw new FormatError('_codecs.encode of something that is not a string');
  if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(s);
  if (enc !== 'latin1' && enc !== 'latin-1' && enc !== 'iso-8859-1') throw new FormatError('_codecs.encode with an encoding other than Latin-1 or UTF-8');
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new FormatError('_codecs.encode of a string that is not Latin-1');
    out[i] = c;
  }
  return out;
}

function orderedDict([pairs]: readonly unknown[]): PyDict {
  const d = new PyDict('collections.OrderedDict');
  if (Array.isArray(pairs)) for (const p of pairs) if (Array.isArray(p) && p.length === 2) d.entries.set(p[0], p[1]);
  return d;
}

function parameter(args: readonly unknown[]): unknown {
  const [data, requiresGrad] = args;
  if (!(data instanceof TorchTensor)) return new PyObject('torch._utils._rebuild_parameter', args);
  data.isParameter = true;
  data.requiresGrad = requiresGrad === true;
  return data;
}

const items = (v: unknown) => (Array.isArray(v) ? [...v] : v instanceof PySet ? [...v.items] : []);
const first = (args: readonly unknown[]) => args[0];

const BUILTINS: Record<string, (args: readonly unknown[]) => unknown> = {
  'torch._utils._rebuild_tensor': (a) => rebuildTensor([...a.slice(0, 4), false]),
  'torch._utils._rebuild_tensor_v2': (a) => rebuildTensor(a),
  'torch._utils._rebuild_tensor_v3': (a) => {
    if (!(a[6] instanceof TorchDType)) throw new FormatError('_rebuild_tensor_v3 without a dtype');
    return rebuildTensor(a, a[6].dtype);
  },
  'torch._utils._rebuild_parameter': parameter,
  'torch._utils._rebuild_parameter_with_state': parameter,
  // (func, type, args, state): the tensor is what func builds; a subclass type and its state are not needed
  'torch._tensor._rebuild_from_type_v2': (a) => (a[0] instanceof PyBuiltin && Array.isArray(a[2]) ? a[0].apply(a[2]) : new PyObject('torch._tensor._rebuild_from_type_v2', a)),
  'collections.OrderedDict': orderedDict,
  'builtins.set': (a) => new PySet(items(a[0])),
  'builtins.frozenset': (a) => new PySet(items(a[0]), true),
  'torch.Size': (a) => {
    const d = dims(a[0]);
    if (!d) throw new FormatError('torch.Size of something that is not a tuple of sizes');
    return new TorchSize(d);
  },
  '_codecs.encode': encode,
  'numpy.dtype': (a) => new NumpyDType(typeof a[0] === 'string' ? a[0] : ''),
  'numpy.core.multiarray.scalar': numpyScalar,
  'numpy._core.multiarray.scalar': numpyScalar,
  // TorchScript archives tag containers with their static types; the value is the first argument
  'torch.jit._pickle.restore_type_tag': first,
  'torch.jit._pickle.build_intlist': first,
  'torch.jit._pickle.build_doublelist': first,
  'torch.jit._pickle.build_boollist': first,
  'torch.jit._pickle.build_tensorlist': first,
};

/**
 * The value of `module.name` for the pickle machine. Globals outside the allow-list are recorded in `foreign`
 * and become PyGlobal placeholders; the blocked ones throw.
 */
export function checkpointGlobal(module: string, name: string, foreign: Set<string>): unknown {
  const path = `${module}.${name}`;
  const fn = BUILTINS[path];
  if (fn) return new PyBuiltin(path, fn);
  if ((module === 'torch' || module === 'torch.cuda' || module === 'torch.storage') && STORAGE_DTYPES[name.replace(/^_/, '')])
    return new StorageType(DTYPES.get(STORAGE_DTYPES[name.replace(/^_/, '')]!)!);
  if (module === 'torch' && DTYPES.has(name)) return new TorchDType(DTYPES.get(name)!);
  const blocked = BLOCKED_MODULES.has(module.split('.')[0]!) || (module === 'builtins' && !DATA_BUILTINS.has(name));
  if (blocked) throw new FormatError(`the pickle refers to ${globalName(module, name)}, which can run code when the file is loaded with torch.load: refused (nothing in the file was run)`);
  if (!KNOWN_TYPES.has(path) && module !== 'builtins') foreign.add(globalName(module, name));
  return new PyGlobal(module, name);
}
