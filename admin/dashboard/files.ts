/**
 * The dashboard's built files: what admin/dashboard/build.ts writes into dist/ and
 * serve.ts serves under /assets/ (index.html also at / and /dashboard).
 */

/** Where the build puts them (not in git: scripts/setup builds it, releases ship it). */
export const DIST_DIR = new URL("dist/", import.meta.url);

/** Each built file's name and content type. */
export const DASHBOARD_FILES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "xterm.css": "text/css; charset=utf-8",
};
