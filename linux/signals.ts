/** Linux signal names and numbers (x86-64 and arm64 agree on all of these). */

/** Signal numbers by name, aliases included (SIGIOT, SIGCLD, SIGPOLL). */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** glibc's SIGRTMIN and SIGRTMAX (the kernel's 32 and 33 are reserved by it). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * A signal name from CRI's enum or an image's StopSignal ("SIGINT", "INT", "2") as runc
 * takes it: a canonical name, or a number for real-time signals and numeric input. null for
 * CRI's RUNTIME_DEFAULT, empty input and names Linux does not have.
 */
export function parseSignal(s: string): string | null {
  if (!s || s === "RUNTIME_DEFAULT") return null;
  if (/^\d+$/.test(s)) return s;
  const up = s.toUpperCase();
  const name = up.startsWith("SIG") ? up : `SIG${up}`;
  if (SIGNALS[name]) return name;
  const rt = /^SIGRTMIN(?:PLUS(\d+))?$/.exec(name);
  if (rt) return String(SIGRTMIN + Number(rt[1] ?? 0));
  const rtmax = /^SIGRTMAX(?:MINUS(\d+))?$/.exec(name);
  if (rtmax) return String(SIGRTMAX - Number(rtmax[1] ?? 0));
  return null;
}
