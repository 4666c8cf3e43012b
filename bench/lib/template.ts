/**
 * ghz-style call data templates: `{{.RequestNumber}}`, `{{.TimestampUnixNano}}`,
 * `{{newUUID}}`, `{{randomString 8}}`, `{{randomInt 1 100}}`, … plus picks
 * from the seeded fixture: `{{randomAccount}}` (a funded wallet; each
 * occurrence in one request is a different wallet), `{{hotAccount}}` (always
 * the same wallet; a template that names it never draws it at random) and
 * `{{randomUser}}`. Compiled once, rendered per call. Pure apart from the
 * random source, which can be injected.
 */
import { randomUUID } from "node:crypto";

/** Ids the fixture templates draw from. The hot account is `accounts[0]`. */
export interface Fixture {
  accounts: string[];
  users: string[];
}

/** What ghz calls the call data: per call, per method. */
export interface CallContext {
  requestNumber: number;
  workerId: string;
  /** `package.Service/Method` */
  fullName: string;
  inputName: string;
  outputName: string;
}

export interface Template {
  /** No actions at all: the caller may render (and encode) once. */
  readonly isStatic: boolean;
  /** How many `{{randomAccount}}` one render draws (each distinct). */
  readonly randomAccountDraws: number;
  readonly usesHotAccount: boolean;
  readonly usesUsers: boolean;
  render(ctx: CallContext): string;
}

interface RenderState {
  ctx: CallContext;
  used: Set<number>;
  uuid?: string;
  nowMs?: number;
}

type Segment = string | ((s: RenderState) => string);

/** Longest template accepted: data is one message, not a data set. */
export const MAX_TEMPLATE_CHARS = 1_000_000;
const CHARSET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

export interface CompileOptions {
  fixture?: Fixture;
  /** [0, 1) source; default Math.random. */
  random?: () => number;
}

/**
 * Compiles `text`. `source` names the flag in errors (e.g. "-d"). Unknown
 * actions throw; fixture actions without a fixture throw at render time.
 */
export function compileTemplate(text: string, source: string, options: CompileOptions = {}): Template {
  if (text.length > MAX_TEMPLATE_CHARS) throw new Error(`${source}: longer than ${MAX_TEMPLATE_CHARS} characters`);
  const random = options.random ?? Math.random;
  const fixture = options.fixture;
  const segments: Segment[] = [];
  let randomAccountDraws = 0;
  let usesHotAccount = false;
  let usesUsers = false;

  const needFixture = (action: string): Fixture => {
    if (!fixture) throw new Error(`${source}: {{${action}}} needs the seeded fixture`);
    return fixture;
  };
  const now = (s: RenderState) => (s.nowMs ??= performance.timeOrigin + performance.now());

  let pos = 0;
  while (pos < text.length) {
    const open = text.indexOf("{{", pos);
    if (open === -1) {
      segments.push(text.slice(pos));
      break;
    }
    if (open > pos) segments.push(text.slice(pos, open));
    const close = text.indexOf("}}", open + 2);
    if (close === -1) throw new Error(`${source}: "{{" at offset ${open} is never closed`);
    const raw = text.slice(open + 2, close);
    const inner = raw.replace(/^-\s/, "").replace(/\s-$/, "").trim();
    const [name, ...args] = inner.split(/\s+/);
    const num = (i: number, what: string): number => {
      const v = Number(args[i]);
      if (args[i] === undefined || !Number.isInteger(v)) throw new Error(`${source}: {{${inner}}} needs an integer ${what}`);
      return v;
    };
    const arity = (n: number) => {
      if (args.length !== n) throw new Error(`${source}: {{${inner}}} takes ${n} argument${n === 1 ? "" : "s"}`);
    };
    switch (name) {
      case ".RequestNumber":
        segments.push((s) => String(s.ctx.requestNumber));
        break;
      case ".WorkerID":
        segments.push((s) => s.ctx.workerId);
        break;
      case ".FullyQualifiedName":
        segments.push((s) => s.ctx.fullName.replace("/", "."));
        break;
      case ".MethodName":
        segments.push((s) => s.ctx.fullName.slice(s.ctx.fullName.indexOf("/") + 1));
        break;
      case ".ServiceName":
        segments.push((s) => s.ctx.fullName.slice(0, s.ctx.fullName.indexOf("/")));
        break;
      case ".InputName":
        segments.push((s) => s.ctx.inputName);
        break;
      case ".OutputName":
        segments.push((s) => s.ctx.outputName);
        break;
      case ".Timestamp":
        segments.push((s) => new Date(now(s)).toISOString().replace(/\.\d+Z$/, "Z"));
        break;
      case ".TimestampUnix":
        segments.push((s) => String(Math.floor(now(s) / 1000)));
        break;
      case ".TimestampUnixMilli":
        segments.push((s) => String(Math.floor(now(s))));
        break;
      case ".TimestampUnixNano":
        segments.push((s) => String(BigInt(Math.floor(now(s) * 1000)) * 1000n));
        break;
      case ".UUID":
        segments.push((s) => (s.uuid ??= randomUUID()));
        break;
      case "newUUID":
        arity(0);
        segments.push(() => randomUUID());
        break;
      case "randomString": {
        arity(1);
        const length = num(0, "length");
        segments.push(() => {
          const n = length > 0 ? length : 2 + Math.floor(random() * 15);
          let out = "";
          for (let i = 0; i < n; i++) out += CHARSET[Math.floor(random() * CHARSET.length)];
          return out;
        });
        break;
      }
      case "randomInt": {
        arity(2);
        const min = num(0, "min");
        const max = num(1, "max");
        if (max <= min) throw new Error(`${source}: {{${inner}}}: max must be greater than min`);
        segments.push(() => String(min + Math.floor(random() * (max - min))));
        break;
      }
      case "randomAccount":
        arity(0);
        randomAccountDraws++;
        segments.push((s) => {
          const { accounts } = needFixture("randomAccount");
          const first = usesHotAccount ? 1 : 0; // the hot wallet is never a random pick when the template names it
          const pool = accounts.length - first;
          if (pool < randomAccountDraws) {
            throw new Error(`${source}: draws ${randomAccountDraws} distinct accounts but the fixture has ${pool} to draw from`);
          }
          // A taken index moves on to the next free one: at most `pool` steps; with few draws in a large pool the pick stays practically uniform.
          let i = first + Math.floor(random() * pool);
          while (s.used.has(i)) i = first + ((i - first + 1) % pool);
          s.used.add(i);
          return accounts[i]!;
        });
        break;
      case "hotAccount":
        arity(0);
        usesHotAccount = true;
        segments.push(() => needFixture("hotAccount").accounts[0]!);
        break;
      case "randomUser":
        arity(0);
        usesUsers = true;
        segments.push(() => {
          const { users } = needFixture("randomUser");
          return users[Math.floor(random() * users.length)]!;
        });
        break;
      default:
        throw new Error(
          `${source}: unknown template action {{${inner}}} (known: .RequestNumber .WorkerID .Timestamp .TimestampUnix ` +
            ".TimestampUnixMilli .TimestampUnixNano .UUID .FullyQualifiedName .MethodName .ServiceName .InputName .OutputName " +
            "newUUID randomString randomInt randomAccount hotAccount randomUser)",
        );
    }
    pos = close + 2;
  }

  const isStatic = segments.every((s) => typeof s === "string");
  const staticText = isStatic ? segments.join("") : undefined;
  return {
    isStatic,
    randomAccountDraws,
    usesHotAccount,
    usesUsers,
    render(ctx: CallContext): string {
      if (staticText !== undefined) return staticText;
      const state: RenderState = { ctx, used: new Set() };
      let out = "";
      for (const seg of segments) out += typeof seg === "string" ? seg : seg(state);
      return out;
    },
  };
}

/** True when the template text draws from the fixture (so it must be seeded). */
export function needsFixture(text: string): boolean {
  return /\{\{-?\s*(randomAccount|hotAccount|randomUser)\s*-?\}\}/.test(text);
}
