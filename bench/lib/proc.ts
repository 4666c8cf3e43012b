/**
 * CPU and memory of processes, from /proc (Linux): utime+stime of a process
 * and all its descendants, VmRSS. Elsewhere every reading is undefined and
 * the report says n/a.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Linux USER_HZ: /proc times are in these ticks (100 on every mainstream kernel). */
const CLK_TCK = 100;

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" "); // [0] is field 3 (state)
  } catch {
    return undefined;
  }
}

/** utime+stime of one process (all its threads), ms; undefined when gone. */
export function processCpuMs(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK : undefined;
}

/**
 * utime+stime plus cutime+cstime (the CPU of its children that ended and were
 * reaped), ms. Summed over a tree, a process that ends between two readings
 * moves from its own entry into its parent's: nothing is lost, nothing is
 * counted twice (PostgreSQL backends of short-lived clients such as pgbench).
 */
function processCpuWithReapedMs(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK : undefined;
}

function parentPid(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? Number(f[1]) : undefined;
}

/** `root` and every live descendant. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  let names: string[] = [];
  try {
    names = readdirSync("/proc");
  } catch {
    return [root];
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = parentPid(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU ms per pid of a process tree, at one moment. */
export type TreeCpu = Map<number, number>;

export function treeCpu(root: number | undefined): TreeCpu | undefined {
  if (root === undefined || processCpuMs(root) === undefined) return undefined;
  const out: TreeCpu = new Map();
  for (const pid of processTree(root)) {
    const ms = processCpuWithReapedMs(pid);
    if (ms !== undefined) out.set(pid, ms);
  }
  return out;
}

/**
 * CPU the tree used between two readings, ms: the sum after minus the sum
 * before. A process born in between counts from 0; one that ended in between
 * is in its parent's reaped-children time (see processCpuWithReapedMs).
 */
export function treeCpuDelta(before: TreeCpu | undefined, after: TreeCpu | undefined): number | undefined {
  if (!before || !after) return undefined;
  let ms = 0;
  for (const v of after.values()) ms += v;
  for (const v of before.values()) ms -= v;
  return ms;
}

/** VmRSS of one process, bytes. */
export function processRssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of VmRSS over the tree (shared pages count once per process). */
export function treeRssBytes(root: number): number | undefined {
  if (processRssBytes(root) === undefined) return undefined;
  let total = 0;
  for (const pid of processTree(root)) total += processRssBytes(pid) ?? 0;
  return total;
}

/** The postmaster of a local server: the parent of `backendPid` when it is a postgres process here. */
export function localPostmaster(backendPid: number): number | undefined {
  const ppid = parentPid(backendPid);
  if (ppid === undefined) return undefined;
  try {
    return readFileSync(`/proc/${ppid}/comm`, "utf8").trim().startsWith("postgres") ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Busy CPU of the whole machine (all cores), ms. */
export function machineBusyMs(): number | undefined {
  try {
    const [line] = readFileSync("/proc/stat", "utf8").split("\n");
    const v = line!.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    return ((v.reduce((a, b) => a + b, 0) - v[3]! - v[4]!) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}
