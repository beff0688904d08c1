/** Images: list (with the total size), inspect (404 when absent), remove. Pulls: pulls.ts. */
import { Hono } from "hono";
import { NotFoundError } from "../../core/errors.ts";
import { clientGone } from "../stream.ts";
import type { ApiDeps } from "./deps.ts";
import { imageView } from "./views.ts";

export function imageRoutes({ cri }: ApiDeps): Hono {
  const app = new Hono();

  app.get("/images", async (c) => {
    const name = c.req.query("name");
    const res = await cri.call(
      "ListImages",
      { filter: name ? { image: { image: name } } : null },
      clientGone(c),
    );
    const images = res.images.map(imageView);
    return c.json({ images, total_bytes: images.reduce((a, i) => a + i.size_bytes, 0) });
  });

  app.get("/images/:ref{.+}", async (c) => {
    const ref = c.req.param("ref");
    const res = await cri.call(
      "ImageStatus",
      { image: { image: ref }, verbose: true },
      clientGone(c),
    );
    // CRI answers an empty reply for a missing image; REST says 404.
    if (!res.image) throw new NotFoundError(`image ${JSON.stringify(ref)} is not present`);
    return c.json({ ...res, image: imageView(res.image) });
  });

  app.delete("/images/:ref{.+}", async (c) => {
    const ref = c.req.param("ref");
    await cri.call("RemoveImage", { image: { image: ref } }, clientGone(c));
    return c.json({ removed: ref });
  });

  return app;
}
