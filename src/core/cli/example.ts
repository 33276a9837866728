// `segment`'s example options: the example prompt made from one of the project's masks (`--example <image>:<id>`), or
// from a mask PNG over one of the project's images (`--example-image <image> --example-mask <png>`). A PNG's mask is
// stored on its image as a mask of the project and marked as an example (the app lists it), and an identical mask
// already there is reused: running the same command again gives the same prompt, so the run resumes.
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import sharp from 'sharp';
import type { Prompt } from '../../shared/contract';
import { area, encode, maskFields } from '../../shared/masks';
import type { ImageRow, ProjectStore } from '../project';

export interface ExampleOptions {
  example?: string;
  exampleImage?: string;
  exampleMask?: string;
}

/** Which example options were given together; a usage error (message) when they do not fit, null when none is given. */
export function exampleUsage(o: ExampleOptions, prompt: string | undefined): string | null {
  const png = o.exampleImage !== undefined || o.exampleMask !== undefined;
  if (!o.example && !png) return null;
  if (o.example && png) return 'give either --example or --example-image with --example-mask, not both';
  if (png && (o.exampleImage === undefined || o.exampleMask === undefined)) return '--example-image and --example-mask go together';
  if (prompt !== undefined) return '--example is a prompt: give it or --prompt, not both';
  if (o.example && !/^.+:\d+$/.test(o.example)) return `--example takes <image path>:<annotation id>, e.g. photos/cat.jpg:12 (got "${o.example}")`;
  return null;
}

/** The example prompt the options name (after exampleUsage accepted them); an Error with the user's words when it is not there. */
export async function examplePrompt(store: ProjectStore, o: ExampleOptions): Promise<Prompt> {
  if (o.example) {
    const at = o.example.lastIndexOf(':'); // a path may hold ':' itself; the id never does
    const image = projectImage(store, o.example.slice(0, at));
    const id = Number(o.example.slice(at + 1));
    const a = store.getAnnotation(id);
    if (!a || a.imageId !== image.id) {
      const ids = store.listAnnotations({ imageId: image.id }).map((x) => x.id);
      throw new Error(`${image.path} has no annotation ${id}${a ? ` (it is a mask of ${store.getImage(a.imageId)!.path})` : ''}; its annotations: ${ids.length ? ids.join(', ') : 'none'}`);
    }
    return { kind: 'example', annotationId: id };
  }
  const image = projectImage(store, o.exampleImage!);
  const mask = await maskPng(o.exampleMask!, image);
  const fields = maskFields(mask);
  const same = store.listAnnotations({ imageId: image.id }).find((a) => a.rle === fields.rle);
  const a = same ?? store.edit(image.id, 'add example', [{ kind: 'add', input: { categoryId: null, source: 'example', ...fields } }])[0]!;
  if (!store.listExamples({ imageId: image.id }).some((e) => e.annotationId === a.id)) store.addExample({ imageId: image.id, annotationId: a.id });
  return { kind: 'example', annotationId: a.id };
}

/** An image of the project by its path in the folder (or a path to the file in the folder). */
function projectImage(store: ProjectStore, ref: string): ImageRow {
  const inFolder = isAbsolute(ref) ? relative(store.folder, ref) : ref;
  const img = store.getImageByPath(inFolder.replace(/\\/g, '/'));
  if (!img) throw new Error(`no image ${ref} in ${store.folder} (the example's image must be one of the project's)`);
  if (img.status === 'error' || img.missingSince !== null) throw new Error(`the example's image ${img.path} cannot be read${img.error ? `: ${img.error}` : ''}`);
  return img;
}

/** A PNG's non-zero pixels (any colour channel) as a mask of `image`: same size, not empty. */
async function maskPng(file: string, image: ImageRow) {
  const raw = await readFile(resolve(file))
    .then((buf) => sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true }))
    .catch((e: Error) => Promise.reject(new Error(`cannot read the example mask ${file}: ${e.message}`)));
  const { width, height, channels } = raw.info;
  if (width !== image.width || height !== image.height)
    throw new Error(`the example mask ${file} is ${width}×${height}, its image ${image.path} ${image.width}×${image.height}: they must be the same size`);
  const bits = new Uint8Array(width * height);
  for (let i = 0; i < bits.length; i++) for (let c = 0; c < channels; c++) if (raw.data[i * channels + c]) bits[i] = 1;
  const mask = encode(bits, height, width);
  if (area(mask) === 0) throw new Error(`the example mask ${file} is empty (all zero): nothing to find`);
  return mask;
}
