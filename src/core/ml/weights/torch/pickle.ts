// A pickle machine (protocols 0–5) that never runs Python: it builds plain data. Globals are resolved by the
// caller (an allow-list of pure functions written here, inert placeholders for everything else); calling a
// placeholder (REDUCE, NEWOBJ, INST, OBJ) records the call instead of making it. Opcodes follow CPython's pickle.py.
import type { ByteSource } from '../bytes';
import { FormatError } from './format';

/** A dict (or OrderedDict, or another mapping the allow-list builds) in insertion order. */
export class PyDict {
  readonly entries = new Map<unknown, unknown>();
  /** What BUILD gave it (state_dict()'s OrderedDict carries `{'_metadata': …}` this way). */
  state?: unknown;
  constructor(readonly cls = 'dict') {}
}

export class PySet {
  constructor(readonly items: unknown[] = [], readonly frozen = false) {}
}

/** A global that is not on the allow-list: a name, never looked up. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What calling a placeholder would have made: the call recorded, never made; BUILD, APPEND, SETITEM recorded too. */
export class PyObject {
  state?: unknown;
  readonly items: unknown[] = [];
  readonly entries = new Map<unknown, unknown>();
  constructor(readonly cls: string, readonly args: readonly unknown[]) {}
}

/** An allow-listed global: `apply` builds data from the pickled arguments (no Python is involved). */
export class PyBuiltin {
  constructor(readonly path: string, readonly apply: (args: readonly unknown[]) => unknown) {}
}

/** Allow-listed objects that take BUILD state (numpy dtypes carry their byte order this way). */
export interface Buildable {
  setState(state: unknown): void;
}

export interface PickleEnv {
  /** GLOBAL / STACK_GLOBAL / INST: a value for `module.name`; throws FormatError to refuse it. */
  global(module: string, name: string): unknown;
  /** PERSID / BINPERSID: what the id stands for (torch: a storage); `bad` makes a positioned error. */
  persistentLoad(pid: unknown, bad: (why: string) => FormatError): unknown;
}

// Python 2 module names that protocol 2 pickles use (pickle's fix_imports does the same).
const PY2_MODULES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

const WINDOW = 1 << 20;
const MAX_LINE = 1 << 20;

/** Reads a pickle stream from bytes [start, end) of `src`, a window at a time. */
export class PickleReader {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart: number;
  pos: number;

  constructor(private readonly src: ByteSource, start: number, private readonly end: number) {
    this.pos = start;
    this.bufStart = start;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.bufStart + this.buf.length) return;
    this.bufStart = this.pos;
    this.buf = this.src.read(this.pos, Math.min(Math.max(n, WINDOW), this.end - this.pos));
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** `n` bytes; `what` names them when the stream ends first. */
  take(n: number, what: () => string): Uint8Array {
    if (n > this.remaining) throw new FormatError(what());
    this.ensure(n);
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  /** The next opcode, or -1 at the end of the stream. */
  opcode(): number {
    if (this.remaining <= 0) return -1;
    return this.take(1, () => '')[0]!;
  }

  /** Text up to the next newline (protocol 0 arguments), without it. */
  line(): string {
    let n = 0;
    for (;;) {
      if (n >= this.remaining || n > MAX_LINE) throw new FormatError('the pickle ends in the middle of a text argument (truncated?)');
      this.ensure(n + 1);
      if (this.buf[this.pos - this.bufStart + n] === 0x0a) break;
      n++;
    }
    const bytes = this.take(n + 1, () => '');
    return latin1(bytes.subarray(0, n));
  }
}

const latin1 = (b: Uint8Array) => new TextDecoder('latin1').decode(b);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(b: Uint8Array): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new FormatError('malformed pickle: a string is not valid UTF-8');
  }
}

/** Python-style type name of a value, for messages (never the value itself). */
export function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyBuiltin || v instanceof PyGlobal) return 'global';
  return 'object';
}

const tuple = (items: unknown[]) => Object.freeze(items);

/** An int as a number when it is exact, else a bigint. */
const int = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function littleSigned(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b.length && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

type Bad = (why: string) => FormatError;

/** Protocol 0 INT/LONG text. */
function parseIntText(s: string, op: string, bad: Bad): number | bigint | boolean {
  if (op === 'INT' && s === '00') return false;
  if (op === 'INT' && s === '01') return true;
  const t = op === 'LONG' ? s.replace(/L$/, '') : s;
  if (!/^[+-]?\d+$/.test(t)) throw bad(`${op} is not a number`);
  return int(BigInt(t));
}

function parseFloatText(s: string, bad: Bad): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw bad('FLOAT is not a number');
  return Number(t);
}

/** Protocol 0 STRING: a quoted Python 2 str literal (its escapes), decoded as UTF-8 like torch.load does. */
function parseStringText(s: string, bad: Bad): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw bad('STRING is not quoted');
  const body = s.slice(1, -1);
  const out: number[] = [];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11, '\n': -1 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out.push(c.charCodeAt(0));
      continue;
    }
    const d = body[++i] ?? '';
    let m: RegExpExecArray | null;
    if (d in simple) {
      if (simple[d]! >= 0) out.push(simple[d]!);
    } else if (d === 'x' && (m = /^[0-9a-fA-F]{2}/.exec(body.slice(i + 1)))) {
      out.push(parseInt(m[0], 16));
      i += 2;
    } else if ((m = /^[0-7]{1,3}/.exec(body.slice(i)))) {
      out.push(parseInt(m[0], 8) & 0xff);
      i += m[0].length - 1;
    } else out.push(92, d.charCodeAt(0));
  }
  return decodeUtf8(Uint8Array.from(out));
}

/** Protocol 0 UNICODE: raw-unicode-escape (\uXXXX and \UXXXXXXXX; every other byte is Latin-1). */
function parseUnicodeText(s: string, bad: Bad): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u: string | undefined, U: string | undefined) => {
    const cp = parseInt((u ?? U)!, 16);
    if (cp > 0x10ffff) throw bad('UNICODE escape out of range');
    return String.fromCodePoint(cp);
  });
}

/** Unpickles one object from `r` (which then stands after its STOP). */
export function unpickle(r: PickleReader, env: PickleEnv): unknown {
  const start = r.pos;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let at = 0; // where the current opcode starts, within this pickle
  let name = '';

  const bad: Bad = (why) => new FormatError(`malformed pickle: ${why} (at byte ${at})`);
  const fixed = (n: number) => r.take(n, () => `the pickle ends in the middle of ${name} (truncated?)`);
  const sized = (n: number) => r.take(n, () => `a ${n}-byte ${name} runs past the end of the pickle (truncated?)`);
  const view = (n: number) => {
    const b = fixed(n);
    return new DataView(b.buffer, b.byteOffset, n);
  };
  const u8 = () => fixed(1)[0]!;
  const u32 = () => view(4).getUint32(0, true);
  const sizedU64 = () => {
    const b = view(8).getBigUint64(0, true);
    if (b > BigInt(r.remaining)) throw new FormatError(`a ${b}-byte ${name} runs past the end of the pickle (truncated?)`);
    return sized(Number(b));
  };
  const pop = () => {
    if (!stack.length) throw bad(`${name} needs a value on the stack`);
    return stack.pop();
  };
  const popN = (n: number) => {
    if (stack.length < n) throw bad(`${name} needs ${n} values on the stack`);
    return stack.splice(stack.length - n, n);
  };
  const top = () => {
    if (!stack.length) throw bad(`${name} needs a value on the stack`);
    return stack[stack.length - 1];
  };
  // `stack` is replaced at MARK and popMark: push reads it only after its argument (which may pop a mark) is made
  const push = (v: unknown) => void stack.push(v);
  const popMark = () => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw bad(`${name} without a MARK`);
    stack = prev;
    return items;
  };
  const global = (module: string, nm: string) => env.global(PY2_MODULES[module] ?? module, nm);
  const call = (fn: unknown, args: unknown) => {
    if (!Array.isArray(args)) throw bad(`${name} with arguments that are not a tuple`);
    if (fn instanceof PyBuiltin) return fn.apply(args);
    if (fn instanceof PyGlobal) return new PyObject(fn.path, args);
    throw bad(`${name} on a ${typeName(fn)}`);
  };
  const setItems = (target: unknown, pairs: unknown[]) => {
    if (pairs.length % 2) throw bad(`${name} with an odd number of items`);
    const map = target instanceof PyDict || target instanceof PyObject ? target.entries : null;
    if (!map) throw bad(`${name} on a ${typeName(target)}`);
    for (let i = 0; i < pairs.length; i += 2) map.set(pairs[i], pairs[i + 1]);
  };
  const append = (target: unknown, items: unknown[]) => {
    const list = Array.isArray(target) && !Object.isFrozen(target) ? target : target instanceof PyObject ? target.items : null;
    if (!list) throw bad(`${name} to a ${typeName(target)}`);
    for (const x of items) list.push(x); // not push(...items): a long APPENDS would overflow the call stack
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw bad(`memo entry ${i} was never stored`);
    return memo.get(i);
  };
  const str = (b: Uint8Array) => decodeUtf8(b);
  const memoIndex = (s: string) => {
    if (!/^\d{1,10}$/.test(s)) throw bad(`${name} with a memo index that is not a number`);
    return Number(s);
  };

  for (;;) {
    at = r.pos - start;
    const op = r.opcode();
    if (op < 0) throw new FormatError('the pickle ends before its STOP opcode (truncated?)');
    name = OPCODES[op] ?? '';
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) throw new FormatError(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: fixed(8); break; // FRAME: a length hint; the reader needs no framing
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x30: if (stack.length) stack.pop(); else popMark(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(view(4).getInt32(0, true)); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(view(2).getUint16(0, true)); break; // BININT2
      case 0x8a: push(int(littleSigned(sized(u8())))); break; // LONG1
      case 0x8b: { // LONG4
        const n = view(4).getInt32(0, true);
        if (n < 0) throw bad('LONG4 with a negative length');
        push(int(littleSigned(sized(n))));
        break;
      }
      case 0x49: case 0x4c: push(parseIntText(r.line(), name, bad)); break; // INT, LONG
      case 0x46: push(parseFloatText(r.line(), bad)); break; // FLOAT
      case 0x47: push(view(8).getFloat64(0, false)); break; // BINFLOAT (big-endian)
      case 0x53: push(parseStringText(r.line(), bad)); break; // STRING
      case 0x54: { // BINSTRING
        const n = view(4).getInt32(0, true);
        if (n < 0) throw bad('BINSTRING with a negative length');
        push(str(sized(n)));
        break;
      }
      case 0x55: push(str(sized(u8()))); break; // SHORT_BINSTRING
      case 0x56: push(parseUnicodeText(r.line(), bad)); break; // UNICODE
      case 0x58: push(str(sized(u32()))); break; // BINUNICODE
      case 0x8c: push(str(sized(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(str(sizedU64())); break; // BINUNICODE8
      case 0x42: push(sized(u32()).slice()); break; // BINBYTES
      case 0x43: push(sized(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: case 0x96: push(sizedU64().slice()); break; // BINBYTES8, BYTEARRAY8
      case 0x97: throw new FormatError('the pickle refers to an out-of-band buffer (NEXT_BUFFER), which a file cannot carry');
      case 0x98: top(); break; // READONLY_BUFFER
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x74: push(tuple(popMark())); break; // TUPLE
      case 0x85: case 0x86: case 0x87: push(tuple(popN(op - 0x84))); break; // TUPLE1-3
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const d = new PyDict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x8f: push(new PySet()); break; // EMPTY_SET
      case 0x91: push(new PySet(popMark(), true)); break; // FROZENSET
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet) || s.frozen) throw bad(`ADDITEMS to a ${typeName(s)}`);
        for (const x of items) s.items.push(x);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const [k, v] = popN(2);
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict || obj instanceof PyObject) obj.state = state;
        else if (obj !== null && typeof obj === 'object' && 'setState' in obj) (obj as Buildable).setState(state);
        else throw bad(`BUILD on a ${typeName(obj)}`);
        break;
      }
      case 0x70: memo.set(memoIndex(r.line()), top()); break; // PUT
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: push(memoGet(memoIndex(r.line()))); break; // GET
      case 0x68: push(memoGet(u8())); break; // BINGET
      case 0x6a: push(memoGet(u32())); break; // LONG_BINGET
      case 0x63: { // GLOBAL
        const module = r.line();
        push(global(module, r.line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const [module, nm] = popN(2);
        if (typeof module !== 'string' || typeof nm !== 'string') throw bad('STACK_GLOBAL on values that are not strings');
        push(global(module, nm));
        break;
      }
      case 0x52: { // REDUCE
        const [fn, args] = popN(2);
        push(call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const [cls, args] = popN(2);
        push(call(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX: keyword arguments are dropped from the record
        const [cls, args] = popN(3);
        push(call(cls, args));
        break;
      }
      case 0x69: { // INST: module and name as text, arguments since the MARK
        const module = r.line();
        const cls = global(module, r.line());
        push(call(cls, tuple(popMark())));
        break;
      }
      case 0x6f: { // OBJ: class and arguments since the MARK
        const items = popMark();
        if (!items.length) throw bad('OBJ without a class');
        push(call(items[0], tuple(items.slice(1))));
        break;
      }
      case 0x50: push(env.persistentLoad(r.line(), bad)); break; // PERSID
      case 0x51: push(env.persistentLoad(pop(), bad)); break; // BINPERSID
      case 0x82: case 0x83: case 0x84:
        throw new FormatError(`the pickle uses the copyreg extension registry (${name}), which checkpoints never do`);
      default:
        throw new FormatError(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
    }
  }

}

const OPCODES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};
