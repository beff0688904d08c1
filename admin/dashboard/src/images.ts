/// <reference lib="dom" />
/** The images tab: one row per tag, remove, and the pull form with live progress. */
import { act } from "./actions.ts";
import { api, ApiError, getJson, readSse } from "./api.ts";
import { byId, emptyNote, h, input, messageOf, tableBody } from "./dom.ts";
import { bytes, shortId, splitTag } from "./format.ts";
import { requestRefresh, state } from "./state.ts";
import type {
  ImageList,
  ImageView,
  Problem,
  PullDoneEvent,
  PullProgressEvent,
  PullStatusEvent,
} from "./types.ts";

function imageRows(i: ImageView): HTMLTableRowElement[] {
  const tags = i.repo_tags.length ? i.repo_tags : ["<none>:<none>"];
  return tags.map((t) => {
    const [repo, tag] = splitTag(t);
    return h(
      "tr",
      {},
      h("td", {}, repo),
      h("td", { class: "mono" }, tag),
      h("td", { class: "mono muted", title: i.id }, shortId(i.id)),
      h("td", { class: "num" }, bytes(i.size_bytes)),
      h(
        "td",
        { class: "actions" },
        state.caps.RemoveImage &&
          h("button", {
            class: "small danger",
            onclick: () => act("Remove image " + t, "/images/" + encodeURIComponent(t), "DELETE"),
          }, "Remove"),
      ),
    );
  });
}

export async function loadImages(): Promise<void> {
  if (!state.caps.ListImages) {
    emptyNote("images", 0, false, "");
    return;
  }
  const res = await getJson<ImageList>("/images");
  state.images = res.images;
  byId("count-images").textContent = String(state.images.length);
  const rows = state.images.flatMap(imageRows);
  tableBody("table-images").replaceChildren(...rows);
  byId("images-total").textContent = state.images.length
    ? state.images.length + " images, " + bytes(res.total_bytes)
    : "";
  emptyNote("images", rows.length, true, "No images yet: pull one above.");
}

/** One pull's box under the form: overall bar, status line, a bar per layer. */
class PullBox {
  readonly box: HTMLDivElement;
  private readonly bar = h("div", { class: "bar indeterminate" }, h("div", {}));
  private readonly status = h("span", { class: "muted" }, "starting…");
  private readonly layers = h("div", {});
  private readonly layerBars = new Map<string, { text: HTMLDivElement; fill: HTMLDivElement }>();

  constructor(image: string) {
    this.box = h(
      "div",
      { class: "pull" },
      h("div", { class: "title" }, h("span", {}, image), this.status),
      this.bar,
      this.layers,
    );
  }

  onEvent(event: string, data: unknown): void {
    if (event === "status") {
      const d = data as PullStatusEvent;
      this.status.textContent = "pulling · " + (d.elapsed_ms / 1000).toFixed(0) + "s";
    }
    if (event === "progress") this.progress(data as PullProgressEvent);
    if (event === "done") {
      const d = data as PullDoneEvent;
      this.finish(
        "done",
        "done in " + (d.elapsed_ms / 1000).toFixed(1) + "s" +
          (d.size_bytes ? " · " + bytes(d.size_bytes) : "") + " · " + shortId(d.image_ref),
      );
      requestRefresh();
    }
    if (event === "error") throw new ApiError(data as Problem);
  }

  private progress(d: PullProgressEvent): void {
    let row = this.layerBars.get(d.digest);
    if (!row) {
      row = { text: h("div", { class: "layer" }), fill: h("div", {}) };
      this.layers.append(row.text, h("div", { class: "bar" }, row.fill));
      this.layerBars.set(d.digest, row);
    }
    row.text.textContent = shortId(d.digest) + " " + d.phase + " " + bytes(d.bytesDone) +
      (d.bytesTotal ? " / " + bytes(d.bytesTotal) : "");
    row.fill.style.width = d.bytesTotal ? (100 * d.bytesDone / d.bytesTotal).toFixed(1) + "%" : "0";
  }

  finish(how: "done" | "failed", text: string): void {
    this.box.classList.add(how);
    this.bar.classList.remove("indeterminate");
    this.status.textContent = text;
  }
}

async function pull(image: string): Promise<void> {
  const box = new PullBox(image);
  byId("pulls").prepend(box.box);
  try {
    const res = await api("/images/pull", {
      method: "POST",
      headers: { accept: "text/event-stream", "content-type": "application/json" },
      body: JSON.stringify({ image }),
    });
    await readSse(res, (event, data) => box.onEvent(event, data));
  } catch (err) {
    box.finish("failed", "failed: " + messageOf(err));
  }
}

export function setUpImages(): void {
  byId("pull-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const image = input("pull-image").value.trim();
    if (!image) return;
    input("pull-image").value = "";
    await pull(image);
  });
}
