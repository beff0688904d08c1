/** ImageService RPCs: PullImage, ListImages, ImageStatus, RemoveImage, ImageFsInfo, StreamImages. */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { ImageRecord, ImageService } from "../../image/mod.ts";
import type { CriHandlers, DeepPartial } from "../handler.ts";
import { nanos } from "../handler.ts";
import type { Image, ImageFilter } from "../types.ts";

export interface ImageHandlerDeps {
  images: ImageService;
}

/** Images per StreamImages message. */
const STREAM_BATCH = 100;

function toCri(images: ImageService, r: ImageRecord): DeepPartial<Image> {
  const user = userOf(r);
  return {
    id: r.id,
    repo_tags: r.repoTags,
    repo_digests: r.repoDigests,
    size: String(r.size),
    uid: user.uid !== undefined ? { value: String(user.uid) } : null,
    username: user.username,
    spec: { image: r.id, annotations: {} },
    pinned: images.isPinned(r),
  };
}

/** uid for a numeric `User` (`user[:group]`), else the username, as containerd reports it. */
function userOf(r: ImageRecord): { uid?: number; username: string } {
  const user = r.user.split(":")[0];
  if (user === "") return { username: "" };
  if (/^\d+$/.test(user)) return { uid: Number(user), username: "" };
  return { username: user };
}

function required(image: string | undefined, rpc: string): string {
  if (!image) {
    throw new InvalidArgumentError(`${rpc}: image.image is required (a reference or image ID)`);
  }
  return image;
}

function filtered(images: ImageService, filter: ImageFilter | null | undefined): ImageRecord[] {
  const want = filter?.image?.image;
  if (!want) return images.list();
  const r = images.resolve(want);
  return r ? [r] : [];
}

export function imageHandlers(deps: ImageHandlerDeps): CriHandlers {
  const { images } = deps;
  return {
    PullImage: async (req, ctx) => {
      const ref = required(req.image?.image, "PullImage");
      const id = await images.pull(ref, { auth: req.auth, signal: ctx.signal });
      return { image_ref: id };
    },

    ListImages: async (req) => ({
      images: filtered(images, req.filter).map((r) => toCri(images, r)),
    }),

    StreamImages: async (req, _ctx, send) => {
      const all = filtered(images, req.filter);
      for (let i = 0; i < all.length; i += STREAM_BATCH) {
        await send({ images: all.slice(i, i + STREAM_BATCH).map((r) => toCri(images, r)) });
      }
    },

    ImageStatus: async (req) => {
      const ref = required(req.image?.image, "ImageStatus");
      const r = images.resolve(ref);
      // Absent: an empty response, not an error (kubelet then pulls).
      if (!r) return {};
      return { image: toCri(images, r), info: req.verbose ? images.verboseInfo(r) : {} };
    },

    RemoveImage: async (req) => {
      images.remove(required(req.image?.image, "RemoveImage"));
      return {};
    },

    ImageFsInfo: async () => {
      const u = images.fsUsage();
      const usage = {
        timestamp: nanos(Date.now()),
        fs_id: { mountpoint: u.mountpoint },
        used_bytes: { value: String(u.usedBytes) },
        inodes_used: { value: String(u.inodesUsed) },
      };
      return { image_filesystems: [usage], container_filesystems: [] };
    },
  };
}
