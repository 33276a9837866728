// CLIP image preprocessing on real photos: openai's `_transform` and transformers' CLIPImageProcessor at 224 and 336,
// from the decoded file to the normalised tensor, bit for bit. Each stored tensor `<openai|hf>_<size>.<stem>` is
// remade from its image (images.json: in the case folder, or among the golden set's shared photos, ../../images).
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, parse } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { decodeClipImage, preprocessClipImage, type ClipImage } from '../ml/models/clipPreprocess';
import { SafetensorsFile } from '../ml/weights';
import { exactCheck, readJsonAs, ReferenceOutputs, type GoldenKind, type OutputCheck } from './compare';

const Images = z.object({
  images: z.array(z.object({ file: z.string(), source: z.enum(['shared/images', 'this folder']), decoded_sha256: z.string() })),
});
type Image = z.infer<typeof Images>['images'][number];

export const clipPreprocessKind: GoldenKind = {
  title: 'CLIP image preprocessing (openai _transform, transformers CLIPImageProcessor)',
  async check(dir) {
    const { images } = readJsonAs(join(dir, 'images.json'), Images);
    const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'preprocessed.safetensors')));
    const decoded = new Map<string, ClipImage>();
    const decodeChecks: OutputCheck[] = [];
    for (const name of ref.file.keys()) {
      const m = /^(openai|hf)_(\d+)\.(.+)$/.exec(name);
      const image = m ? images.find((i) => parse(i.file).name === m[3]) : undefined;
      if (!m || !image) {
        ref.add({ name, measure: 'max_abs', error: Infinity, tolerance: 0, detail: m ? `no image ${m[3]} in images.json` : 'not named <openai|hf>_<size>.<image>' }, name);
        continue;
      }
      let img = decoded.get(image.file);
      if (!img) {
        img = await decodeClipImage(readFileSync(image.source === 'this folder' ? join(dir, image.file) : join(dir, '..', '..', 'images', image.file)));
        decoded.set(image.file, img);
        if (!img.indexed) decodeChecks.push(decodeCheck(image, img));
      }
      const size = Number(m[2]);
      const got = preprocessClipImage(img, size, m[1] === 'hf' ? 'transformers' : 'openai');
      ref.tensor(new ort.Tensor('float32', got, [3, size, size]), name, 0);
    }
    return [...decodeChecks, ...ref.checks()];
  },
};

/**
 * The decoded samples against Pillow's (sha256 of its raw bytes): a JPEG decoder other than libjpeg-turbo's would
 * show here first. Palette images are left out: Pillow's bytes are palette indices, sharp gives the colours.
 */
function decodeCheck(image: Image, img: ClipImage): OutputCheck {
  const sha = createHash('sha256').update(img.data).digest('hex');
  return exactCheck(`decoded ${image.file}`, [sha], (s) => (s === image.decoded_sha256 ? undefined : `sha256 ${s.slice(0, 12)}…, Pillow's ${image.decoded_sha256.slice(0, 12)}…`));
}
