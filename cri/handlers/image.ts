/**
 * ImageService RPCs: PullImage, ListImages, ImageStatus, RemoveImage, StreamImages
 * (ImageFsInfo, which needs the containers' writable layers too, is in stats.ts).
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { ImageRecord, ImageService } from "../../image/mod.ts";
import type { CriHandlers } from "../handler.ts";
import type { ImageFilter } from "../types.ts";
import { type Given, image, imageListFilter, pages, pullAuth } from "../convert/mod.ts";

export interface ImageHandlerDeps {
  images: ImageService;
}

/** Images per StreamImages message. */
const STREAM_BATCH = 100;

function required(image: string | undefined, rpc: string): string {
  if (!image) {
    throw new InvalidArgumentError(`${rpc}: image.image is required (a reference or image ID)`);
  }
  return image;
}

function filtered(images: ImageService, filter: Given<ImageFilter>): ImageRecord[] {
  const want = imageListFilter(filter);
  if (!want) return images.list();
  const r = images.resolve(want);
  return r ? [r] : [];
}

export function imageHandlers(deps: ImageHandlerDeps): CriHandlers {
  const { images } = deps;
  const toCri = (r: ImageRecord) => image(r, images.isPinned(r));
  return {
    PullImage: async (req, ctx) => {
      const ref = required(req.image?.image, "PullImage");
      const id = await images.pull(ref, { auth: pullAuth(req.auth), signal: ctx.signal });
      return { image_ref: id };
    },

    ListImages: async (req) => ({ images: filtered(images, req.filter).map(toCri) }),

    StreamImages: async (req, _ctx, send) => {
      const all = filtered(images, req.filter);
      for (const page of pages(all, STREAM_BATCH)) await send({ images: page.map(toCri) });
    },

    ImageStatus: async (req) => {
      const ref = required(req.image?.image, "ImageStatus");
      const r = images.resolve(ref);
      // Absent: an empty response, not an error (kubelet then pulls).
      if (!r) return {};
      return { image: toCri(r), info: req.verbose ? images.verboseInfo(r) : {} };
    },

    RemoveImage: async (req) => {
      images.remove(required(req.image?.image, "RemoveImage"));
      return {};
    },
  };
}
