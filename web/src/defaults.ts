// The graph a first visit starts with: ComfyUI's familiar txt2img, using whatever checkpoint the server lists.
import type { ApiPrompt } from './formats/api';
import type { Catalog } from './schema';

export function defaultPrompt(catalog: Catalog): ApiPrompt | null {
  const needed = ['CheckpointLoaderSimple', 'CLIPTextEncode', 'EmptyLatentImage', 'KSampler', 'VAEDecode', 'SaveImage'];
  if (!needed.every((n) => catalog[n])) return null;
  const ckpt = catalog.CheckpointLoaderSimple.inputs.find((i) => i.name === 'ckpt_name')?.widget?.default ?? '';
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a watercolor painting of a lighthouse at dawn', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry, text, watermark', clip: ['4', 1] } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
    '3': {
      class_type: 'KSampler',
      inputs: { model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { images: ['8', 0] } },
  };
}
