/**
 * Tells when files may have changed: `fs.watch` on the folders holding them
 * (a folder watch sees editors that save by rename and Kubernetes secret
 * volumes that swap a `..data` symlink, which a watch on the file itself
 * misses once the old inode is gone), plus a bounded polling interval as the
 * safety net for file systems where watches are unreliable (NFS, some
 * container overlays). The consumer re-reads and compares contents, so a
 * spurious signal costs one read of a few KiB.
 */
import { watch, realpathSync, type FSWatcher } from "node:fs";
import path from "node:path";

export interface FileWatchOptions {
  /** Files to watch; their folders (and the folders of their symlink targets) are watched. */
  readonly files: readonly string[];
  /** Poll every this many ms; 0 turns polling off. */
  readonly pollIntervalMs: number;
  /** Wait this long after the last watch event before signalling, so a multi-file swap is seen as one change. */
  readonly debounceMs: number;
  /** Whether to use fs.watch at all. */
  readonly watch: boolean;
  /** Called (at most once per debounce window / poll tick) when the files may have changed. */
  readonly onSignal: (trigger: "watch" | "poll") => void;
}

/** Starts watching; returns a function that stops everything. Timers and watchers never keep the process alive. */
export function watchFiles(options: FileWatchOptions): () => void {
  const watchers: FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  let stopped = false;

  const signal = (): void => {
    if (stopped) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (!stopped) options.onSignal("watch");
    }, options.debounceMs);
    debounce.unref();
  };

  if (options.watch) {
    for (const folder of foldersOf(options.files)) {
      try {
        const watcher = watch(folder, { persistent: false }, signal);
        // A removed or unmounted folder: stop this watch and rely on polling.
        watcher.on("error", () => watcher.close());
        watchers.push(watcher);
      } catch {
        // Not watchable here (missing folder, no inotify): polling covers it.
      }
    }
  }

  const poll = options.pollIntervalMs > 0 ? setInterval(() => options.onSignal("poll"), options.pollIntervalMs) : undefined;
  poll?.unref();

  return () => {
    stopped = true;
    if (debounce) clearTimeout(debounce);
    if (poll) clearInterval(poll);
    for (const watcher of watchers) watcher.close();
  };
}

function foldersOf(files: readonly string[]): Set<string> {
  const folders = new Set<string>();
  for (const file of files) {
    folders.add(path.dirname(path.resolve(file)));
    try {
      folders.add(path.dirname(realpathSync(file)));
    } catch {
      // Missing right now: the folder watch above sees it appear.
    }
  }
  return folders;
}
