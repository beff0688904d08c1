/// <reference lib="dom" />
/**
 * Skiff dashboard: a single page over the admin REST API (/api/v1), no framework; xterm.js
 * (bundled) for the terminal. Built for the browser by admin/dashboard/build.ts.
 */
import { messageOf } from "./dom.ts";
import { setUpContainers } from "./containers.ts";
import { setUpImages } from "./images.ts";
import { followEvents, refreshAll, refreshSoon } from "./live.ts";
import { setUpLogin, showLogin, takeTokenFromUrl } from "./login.ts";
import { setUpLogs } from "./logs.ts";
import { drawCharts, loadNode, sampleHost } from "./overview.ts";
import { loadPods, setUpPods } from "./pods.ts";
import { onRefreshRequest, state } from "./state.ts";
import { onTabShown, setUpTabs } from "./tabs.ts";
import { fitTerminal, setUpTerminal } from "./terminal.ts";

function wire(): void {
  setUpLogin();
  setUpTabs();
  setUpPods();
  setUpContainers();
  setUpImages();
  setUpLogs();
  setUpTerminal();
  onRefreshRequest(refreshSoon);
  onTabShown((tab) => {
    if (tab === "terminal") fitTerminal();
    if (tab === "overview") drawCharts();
  });
  globalThis.addEventListener("resize", () => {
    drawCharts();
    fitTerminal();
  });
}

async function start(): Promise<void> {
  state.token = takeTokenFromUrl();
  if (!state.token) {
    showLogin("");
    return;
  }
  try {
    await loadNode();
  } catch (err) {
    if (messageOf(err) !== "unauthorized") showLogin(messageOf(err));
    return;
  }
  await refreshAll();
  await sampleHost().catch(() => {});
  setInterval(() => sampleHost().catch(() => {}), 2000);
  // Pods do not emit container events: refresh them (and the summary) now and then.
  setInterval(() => {
    loadNode().catch(() => {});
    loadPods().catch(() => {});
  }, 10000);
  followEvents();
  document.body.dataset.ready = "1";
}

wire();
start();
