/**
 * `npm run lint:breaking` (scripts/buf-breaking.ts) in throwaway git
 * repositories that carry the project's buf.yaml and a probe contract: a
 * renumbered, retyped or renamed field fails naming the field; an added
 * field passes; main compares with its previous commit; a shallow clone or a
 * tree without .git is skipped with a reason, never failed.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SCRIPT = path.join(ROOT, "scripts/buf-breaking.ts");
const TSX = path.join(ROOT, "node_modules/.bin/tsx");
const PROBE = "proto/aevon/probe/v1/probe.proto";

const PROBE_V1 = `syntax = "proto3";

package aevon.probe.v1;

message Probe {
  string name = 1;
  int64 amount_minor = 2;
}
`;

const scratch = mkdtempSync(path.join(tmpdir(), "lor-buf-breaking-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let repos = 0;
function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** A repository whose main has one commit: the project's buf.yaml and the probe contract. */
function newRepo(): string {
  const dir = path.join(scratch, `repo-${++repos}`);
  mkdirSync(path.join(dir, path.dirname(PROBE)), { recursive: true });
  copyFileSync(path.join(ROOT, "buf.yaml"), path.join(dir, "buf.yaml"));
  writeFileSync(path.join(dir, PROBE), PROBE_V1);
  git(dir, "init", "-q", "-b", "main");
  git(dir, "config", "user.email", "test@example.invalid");
  git(dir, "config", "user.name", "test");
  commitAll(dir, "contracts");
  return dir;
}

function commitAll(dir: string, message: string): void {
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
}

function editProbe(dir: string, from: string, to: string): void {
  const file = path.join(dir, PROBE);
  const text = readFileSync(file, "utf8");
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
}

function check(cwd: string, env: Record<string, string> = {}): { code: number | null; output: string } {
  const { BUF_BREAKING_AGAINST: _a, BUF_BREAKING_BASE: _b, ...inherited } = process.env;
  const run = spawnSync(TSX, [SCRIPT], { cwd, encoding: "utf8", env: { ...inherited, ...env }, timeout: 60_000 });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("buf breaking against the merge base with main", () => {
  it("fails a branch that renumbers a field, naming the field", () => {
    const repo = newRepo();
    git(repo, "checkout", "-q", "-b", "feature");
    editProbe(repo, "amount_minor = 2", "amount_minor = 3");
    commitAll(repo, "renumber");
    const { code, output } = check(repo);
    expect(code).toBe(1);
    expect(output).toMatch(/probe\.proto:\d+:\d+:.*field "2" with name "amount_minor" on message "Probe" was deleted/i);
    expect(output).toContain(`against ${git(repo, "rev-parse", "main").slice(0, 12)} (merge base of HEAD and main)`);
  });

  it("fails a changed type and a changed name, each naming the field", () => {
    const typed = newRepo();
    git(typed, "checkout", "-q", "-b", "feature");
    editProbe(typed, "int64 amount_minor", "string amount_minor");
    commitAll(typed, "retype");
    const retyped = check(typed);
    expect(retyped.code).toBe(1);
    expect(retyped.output).toMatch(/Field "2" with name "amount_minor" on message "Probe" changed type from "int64" to "string"/);

    const named = newRepo();
    git(named, "checkout", "-q", "-b", "feature");
    editProbe(named, "amount_minor = 2", "amount = 2");
    commitAll(named, "rename");
    const renamed = check(named);
    expect(renamed.code).toBe(1);
    expect(renamed.output).toMatch(/Field "2" on message "Probe" changed name from "amount_minor" to "amount"/);
  });

  it("passes a branch that adds a field, and counts uncommitted edits", () => {
    const repo = newRepo();
    git(repo, "checkout", "-q", "-b", "feature");
    editProbe(repo, "  int64 amount_minor = 2;\n", "  int64 amount_minor = 2;\n  string memo = 3;\n");
    commitAll(repo, "add a field");
    const added = check(repo);
    expect(added).toMatchObject({ code: 0 });
    expect(added.output).toContain("no breaking change");

    // Renumbering what the branch itself added breaks nobody: main never had it.
    editProbe(repo, "memo = 3", "memo = 4");
    commitAll(repo, "renumber the new field");
    expect(check(repo).code).toBe(0);

    // The working tree is what is checked: an uncommitted renumbering of main's field fails.
    editProbe(repo, "string name = 1", "string name = 6");
    const dirty = check(repo);
    expect(dirty.code).toBe(1);
    expect(dirty.output).toMatch(/field "1" with name "name" on message "Probe" was deleted/i);
  });

  it("on main itself, compares with the previous commit", () => {
    const repo = newRepo();
    editProbe(repo, "string name = 1", "string name = 5");
    commitAll(repo, "renumber on main");
    const { code, output } = check(repo);
    expect(code).toBe(1);
    expect(output).toContain("first parent");
    expect(output).toMatch(/field "1" with name "name" on message "Probe" was deleted/i);
  });

  it("holds the project's FILE rules: moving a message to another file of its package breaks generated imports", () => {
    const repo = newRepo();
    git(repo, "checkout", "-q", "-b", "feature");
    writeFileSync(path.join(repo, PROBE), 'syntax = "proto3";\n\npackage aevon.probe.v1;\n');
    writeFileSync(path.join(repo, path.dirname(PROBE), "moved.proto"), PROBE_V1);
    commitAll(repo, "move Probe");
    const { code, output } = check(repo);
    expect(code).toBe(1);
    expect(output).toMatch(/Previously present message "Probe" was deleted from file/);
  });

  it("honours BUF_BREAKING_AGAINST", () => {
    const repo = newRepo();
    editProbe(repo, "amount_minor = 2", "amount_minor = 7");
    commitAll(repo, "renumber");
    editProbe(repo, "string name = 1", "string name = 1;\n  bool flag = 8");
    commitAll(repo, "add a field");
    // Against HEAD^ (the renumbered contract) only a field was added.
    expect(check(repo).code).toBe(0);
    expect(check(repo, { BUF_BREAKING_AGAINST: "HEAD~2" }).code).toBe(1);
  });

  it("skips, saying why, in a shallow clone and in a tree without .git", () => {
    const repo = newRepo();
    editProbe(repo, "amount_minor = 2", "amount_minor = 9");
    commitAll(repo, "renumber on main");
    const shallow = path.join(scratch, `shallow-${++repos}`);
    git(scratch, "clone", "-q", "--depth", "1", `file://${repo}`, shallow);
    const cut = check(shallow);
    expect(cut.code).toBe(0);
    expect(cut.output).toMatch(/skipped: .*shallow clone/);

    const tarball = path.join(scratch, `tarball-${++repos}`);
    cpSync(repo, tarball, { recursive: true, filter: (src) => path.basename(src) !== ".git" });
    const bare = check(tarball);
    expect(bare.code).toBe(0);
    expect(bare.output).toMatch(/skipped: not a git checkout/);
  });
});
