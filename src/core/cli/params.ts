// `segment`'s options made from the pipelines' parameter schemas: `--name <value>` per parameter (`--name` or
// `--no-name` for a switch, by its default), each helped with the pipeline's title and the parameter's description.
// Only the options given on the command line count, and each must belong to the chosen pipeline.
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { paramFields, parseFieldText, type ParamField } from '../../shared/params';
import { parseParams, PipelineInputError } from '../pipelines/run';
import type { Pipeline } from '../pipelines/types';

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function fieldsOf(p: Pipeline): ParamField[] {
  return paramFields(z.toJSONSchema(p.params, { io: 'input' }) as Record<string, unknown>);
}

function help(p: Pipeline, f: ParamField, negated: boolean): string {
  const what = f.description || f.title;
  if (f.type === 'boolean') return `${p.title}: ${what}${negated ? ' (on by default; this turns it off)' : ''}`;
  return `${p.title}: ${what}${f.default !== undefined ? ` (default ${Array.isArray(f.default) ? f.default.join(',') : String(f.default)})` : ''}`;
}

/** Adds every pipeline's parameters to `cmd`; a parameter several pipelines share is one option. */
export function addParamOptions(cmd: Command, pipelines: readonly Pipeline[]): void {
  const taken = new Set(cmd.options.map((o) => o.attributeName()));
  const byFlag = new Map<string, { valued: boolean; helps: string[]; hint: string; users: string[] }>();
  for (const p of pipelines)
    for (const f of fieldsOf(p)) {
      if (taken.has(f.name)) throw new Error(`pipeline ${p.id}: its parameter "${f.name}" is one of segment's own options`);
      const negated = f.type === 'boolean' && f.default === true;
      const flag = `--${negated ? 'no-' : ''}${kebab(f.name)}`;
      const valued = f.type !== 'boolean';
      const hint = f.type === 'enum' ? `<${f.choices!.join('|')}>` : f.list ? '<n[,n…]>' : f.type === 'json' ? '<json>' : '<value>';
      const known = byFlag.get(flag) ?? { valued, helps: [], hint, users: [] };
      if (known.valued !== valued) throw new Error(`pipelines ${known.users.join(', ')} and ${p.id} take ${flag} in different ways`);
      known.helps.push(help(p, f, negated));
      known.users.push(p.id);
      byFlag.set(flag, known);
    }
  for (const [flag, o] of byFlag) cmd.addOption(new Option(o.valued ? `${flag} ${o.hint}` : flag, o.helps.join('; ')));
}

/**
 * The chosen pipeline's params from the options given on the command line, checked by its schema; a
 * PipelineInputError when one belongs to another pipeline or a value is wrong.
 */
export function paramsFromOptions(cmd: Command, pipelines: readonly Pipeline[], p: Pipeline): unknown {
  const mine = new Map(fieldsOf(p).map((f) => [f.name, f]));
  const others = new Set(pipelines.filter((x) => x !== p).flatMap((x) => fieldsOf(x).map((f) => f.name)));
  const values = cmd.opts() as Record<string, unknown>;
  const raw: Record<string, unknown> = {};
  for (const name of new Set([...mine.keys(), ...others])) {
    if (cmd.getOptionValueSource(name) !== 'cli') continue;
    const f = mine.get(name);
    if (!f) throw new PipelineInputError(`--${kebab(name)} is not a parameter of ${p.title} (its parameters: ${[...mine.keys()].map((n) => `--${kebab(n)}`).join(', ') || 'none'})`);
    raw[name] = f.type === 'boolean' ? values[name] : parseFieldText(f, String(values[name]));
  }
  return parseParams(p, raw);
}
