/**
 * `npm run lint:breaking` (part of `npm test`): buf's breaking-change check of
 * proto/ against the contracts this change started from, offline (no Buf
 * registry: the baseline is read out of git with `git archive`).
 *
 * The baseline, in order:
 * - `BUF_BREAKING_AGAINST` (any git revision, e.g. a release tag), when set;
 * - the merge base of HEAD with `BUF_BREAKING_BASE` (default `main`, else
 *   `origin/main`): everything this branch would bring to main;
 * - when that merge base is HEAD itself (main is the commit under test, or
 *   the branch has nothing of its own yet): HEAD's first parent, i.e. what the
 *   last commit (or merge) brought to main.
 * The working tree is compared, so uncommitted edits count.
 *
 * Rules: `breaking.use` of buf.yaml (FILE: wire, JSON and generated-code
 * compatibility per file; see README "Contract compatibility").
 *
 * Exit codes: 0 compatible, or skipped with a printed reason (no git, not a
 * checkout, a shallow clone without the baseline commit, no baseline with
 * contracts); 1 a breaking change (buf names the file, field and rule) or the
 * check itself failed.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

/** What the baseline is made of: the module's folder and the workspace file that names it. */
const CONTRACT_PATHS = ["buf.yaml", "proto"];
/** Bound on every git call: these are local, small operations. */
const GIT_TIMEOUT_MS = 30_000;
/** Bound on buf itself (compiles both sides; about a second here). */
const BUF_TIMEOUT_MS = 120_000;

type Baseline = { sha: string; why: string } | { skip: string };

function git(cwd: string, args: string[]): string | undefined {
  const result = spawnSync("git", args, { cwd, encoding: "utf8", timeout: GIT_TIMEOUT_MS, stdio: ["ignore", "pipe", "pipe"] });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

const commitOf = (cwd: string, rev: string) => git(cwd, ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]);
const short = (sha: string) => sha.slice(0, 12);

/** Picks the commit to compare with, or why there is none to compare with here. */
function chooseBaseline(cwd: string, env: NodeJS.ProcessEnv = process.env): Baseline {
  if (spawnSync("git", ["--version"], { stdio: "ignore" }).status !== 0) return { skip: "git is not installed" };
  if (git(cwd, ["rev-parse", "--is-inside-work-tree"]) !== "true") {
    return { skip: "not a git checkout (a tarball or an exported tree): there is no history to compare with" };
  }
  const shallow = git(cwd, ["rev-parse", "--is-shallow-repository"]) === "true";
  const cut = shallow ? " (shallow clone: fetch the history with `git fetch --unshallow` to check)" : "";

  const asked = env.BUF_BREAKING_AGAINST;
  if (asked) {
    const sha = commitOf(cwd, asked);
    return sha ? { sha, why: `BUF_BREAKING_AGAINST=${asked}` } : { skip: `BUF_BREAKING_AGAINST=${asked} is not a commit of this clone${cut}` };
  }
  const head = commitOf(cwd, "HEAD");
  if (!head) return { skip: "HEAD has no commit yet" };
  const baseName = env.BUF_BREAKING_BASE || "main";
  const base = [baseName, `origin/${baseName}`].find((name) => commitOf(cwd, name) !== undefined);
  if (!base) return { skip: `no branch ${baseName} (nor origin/${baseName}) in this clone${cut}` };
  const mergeBase = git(cwd, ["merge-base", "HEAD", base]);
  if (!mergeBase) return { skip: `HEAD and ${base} share no commit in this clone${cut}` };
  if (mergeBase !== head) return { sha: mergeBase, why: `merge base of HEAD and ${base}` };
  const parent = commitOf(cwd, "HEAD^1");
  if (!parent) return { skip: shallow ? `HEAD's parent is not in this clone${cut}` : "HEAD is the first commit: nothing before it" };
  return { sha: parent, why: `HEAD is part of ${base}: its first parent, what its last commit brought` };
}

/** The baseline's buf.yaml and proto/, extracted into a new temporary folder (the caller removes it). */
function extractContracts(cwd: string, sha: string): string | undefined {
  const present = git(cwd, ["ls-tree", "--name-only", sha, "--", ...CONTRACT_PATHS])?.split("\n") ?? [];
  if (!CONTRACT_PATHS.every((p) => present.includes(p))) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), "lor-buf-baseline-"));
  const tar = path.join(dir, "baseline.tar");
  execFileSync("git", ["archive", "--format=tar", "-o", tar, sha, "--", ...CONTRACT_PATHS], { cwd, timeout: GIT_TIMEOUT_MS, stdio: "pipe" });
  const tree = path.join(dir, "tree");
  mkdirSync(tree);
  execFileSync("tar", ["-xf", tar, "-C", tree], { timeout: GIT_TIMEOUT_MS, stdio: "pipe" });
  return dir;
}

function main(): number {
  const cwd = git(process.cwd(), ["rev-parse", "--show-toplevel"]) ?? process.cwd();
  const baseline = chooseBaseline(cwd);
  if ("skip" in baseline) {
    console.log(`buf breaking: skipped: ${baseline.skip}.`);
    return 0;
  }
  const dir = extractContracts(cwd, baseline.sha);
  if (!dir) {
    console.log(`buf breaking: skipped: ${short(baseline.sha)} (${baseline.why}) has no ${CONTRACT_PATHS.join(" and ")} to compare with.`);
    return 0;
  }
  try {
    console.log(`buf breaking: proto/ against ${short(baseline.sha)} (${baseline.why})`);
    const buf = createRequire(import.meta.url).resolve("@bufbuild/buf/bin/buf");
    const run = spawnSync(process.execPath, [buf, "breaking", "--against", path.join(dir, "tree")], {
      cwd,
      encoding: "utf8",
      timeout: BUF_TIMEOUT_MS,
      stdio: ["ignore", "pipe", "pipe"],
    });
    process.stdout.write(run.stdout ?? "");
    process.stderr.write(run.stderr ?? "");
    if (run.status === 0) {
      console.log("buf breaking: no breaking change.");
      return 0;
    }
    if (run.status === 100) {
      console.error(
        `buf breaking: the contracts break compatibility with ${short(baseline.sha)} (above: file, field and rule). ` +
          "A field's number, type or name is part of the wire or JSON format and of the generated code: add a new field " +
          "(and reserve the old number and name) or a new package version instead.",
      );
    } else {
      console.error(`buf breaking: the check could not run (buf exited ${run.status ?? run.signal}${run.error ? `: ${run.error.message}` : ""}).`);
    }
    return 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = main();
