/** `skiff images`: lists images with their tags, like `crictl images`. */
import type { Image } from "../../cri/types.ts";
import { type Command, parseFlags } from "../command.ts";
import { humanSize, jsonText, shortId, splitRepoTag, table } from "../format.ts";
import { OPERATOR_HELP, OPERATOR_OPTIONS, runOperator } from "../operator.ts";

const USAGE = `Usage: skiff images [-q] [REPO[:TAG]]

Lists images with their tags, IDs and sizes.
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  quiet: { type: "boolean", short: "q" },
} as const;

export function parseImagesArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

export const imagesCommand: Command = {
  name: "images",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseImagesArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      const res = await ctx.client.call("ListImages", {
        filter: positionals[0] ? { image: { image: positionals[0] } } : null,
      });
      if (ctx.json) await ctx.io.out(jsonText(res));
      else if (values.quiet) await ctx.io.out(res.images.map((i) => i.id + "\n").join(""));
      else await ctx.io.out(imageTable(res.images));
      return 0;
    });
  },
};

/** One row per tag; an untagged image shows its digest's repository with tag `<none>`. */
export function imageTable(images: Image[]): string {
  const rows: string[][] = [];
  for (const i of images) {
    const tags = i.repo_tags.length
      ? i.repo_tags
      : [`${i.repo_digests[0]?.split("@")[0] ?? "<none>"}:<none>`];
    for (const t of tags) {
      const [repo, tag] = splitRepoTag(t);
      rows.push([repo, tag, shortId(i.id), humanSize(i.size)]);
    }
  }
  return table(["IMAGE", "TAG", "IMAGE ID", "SIZE"], rows);
}
