/**
 * Reads the commands of a Markdown document, so a test can run what the
 * document tells a reader to run: fenced blocks by language, shell lines
 * joined across `\` continuations and split into words the way sh would
 * (single and double quotes, `#` comments; no expansion: `$NAME` stays as
 * written).
 */
import { readFileSync } from "node:fs";
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

/** A file of the repository, as text. */
export function readRepoFile(relative: string): string {
  return readFileSync(path.join(REPO_ROOT, relative), "utf8");
}

/** The contents of every fenced block (```lang … ```) of that language, in order. */
export function fencedBlocks(markdown: string, language: string): string[] {
  const blocks: string[] = [];
  const fence = /^```([\w-]*)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(markdown); m !== null; m = fence.exec(markdown)) {
    if (m[1] === language) blocks.push(m[2]!);
  }
  return blocks;
}

/** The commands of a shell block, each as its words; comment lines and blank lines are skipped. */
export function shellCommands(block: string): string[][] {
  const commands: string[][] = [];
  let pending = "";
  for (const line of block.split("\n")) {
    if (pending === "" && (line.trim() === "" || line.trim().startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    commands.push(words(pending + line));
    pending = "";
  }
  if (pending !== "") commands.push(words(pending));
  return commands;
}

/** Every shell command of the document (```sh blocks). */
export function documentCommands(markdown: string): string[][] {
  return fencedBlocks(markdown, "sh").flatMap(shellCommands);
}

function words(line: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "#" && word === undefined) break; // a comment, to the end of the line
    if (c === " " || c === "\t") {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} in: ${line}`);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) out.push(word);
  return out;
}

/** Splits leading `NAME=value` words off a command. */
export function splitEnv(command: string[]): { env: Record<string, string>; argv: string[] } {
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < command.length; i++) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(command[i]!);
    if (!m) break;
    env[m[1]!] = m[2]!;
  }
  return { env, argv: command.slice(i) };
}
