import objectInfo from '../fixtures/object_info.json';
import { parseObjectInfo } from '../schema';
import type { ApiPrompt } from '../formats/api';

export const catalog = parseObjectInfo(objectInfo as Record<string, unknown>);

/** ComfyUI's default SD1.5 graph in API format (ids as in script_examples/basic_api_example.py). */
export function txt2imgPrompt(): ApiPrompt {
  return {
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: 42, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1,
        model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0],
      },
    },
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'tiny-sd15.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
  };
}
