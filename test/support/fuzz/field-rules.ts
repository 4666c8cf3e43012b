/**
 * The contract's static field rules, as malformed values: each is refused
 * by the field's own check before any transaction (so before any write),
 * whatever the other fields hold. Derived from proto/ comments and the
 * README (UUIDs, amounts > 0, pages 1–500, keys 1–128 printable ASCII
 * without '#', lengths in characters, handle and currency alphabets, …).
 */
import type { Rng, Site } from "./messages.js";
import { INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, isText } from "./messages.js";

export interface FieldRule {
  name: string;
  matches(site: Site): boolean;
  /** A malformed value for the site; may also adjust `init` so the rule is the one that applies (e.g. an UpdateUser mask). */
  value(rng: Rng, init: Record<string, unknown>, site: Site): unknown;
}

const emoji = (n: number) => "😀".repeat(n);
const parentIs = (site: Site, ...types: string[]) => types.some((t) => site.parent.typeName.endsWith(`.${t}`));
const named = (site: Site, ...names: string[]) => names.includes(site.leaf.name);
/** UpdateUser checks a field only when its mask names it. */
function masked(init: Record<string, unknown>, site: Site): void {
  if (parentIs(site, "UpdateUserRequest")) init.updateMask = { paths: [site.leaf.name] };
}

export const FIELD_RULES: FieldRule[] = [
  {
    name: "malformed uuid",
    matches: (s) => isText(s) && /_ids?$/.test(s.leaf.name) && !named(s, "resource_id"),
    value: (rng) => {
      const id = rng.uuid();
      return rng.pick(["", "ABC", id.toUpperCase(), id.replaceAll("-", ""), `{${id}}`, `${id} `, `${id.slice(0, 35)}g`, " ".repeat(36)]);
    },
  },
  {
    name: "amount not > 0",
    matches: (s) => named(s, "amount") && parentIs(s, "TransferRequest", "TransferLeg", "CreateHoldRequest"),
    value: (rng) => rng.pick([0n, -1n, INT64_MIN]),
  },
  {
    name: "negative amount",
    matches: (s) => named(s, "amount") && parentIs(s, "CaptureHoldRequest", "ReverseTransferRequest"),
    value: (rng) => rng.pick([-1n, INT64_MIN]),
  },
  { name: "page_size out of 0..500", matches: (s) => named(s, "page_size"), value: (rng) => rng.pick([-1, 501, INT32_MAX, INT32_MIN]) },
  {
    name: "malformed idempotency key",
    matches: (s) => named(s, "idempotency_key") && !parentIs(s, "GetTransferRequest"),
    value: (rng) => rng.pick(["", "#", "a#b", "k".repeat(129), "with space", "ключ", "k\u007f", "😀"]),
  },
  {
    name: "memo or reason over 256 characters",
    matches: (s) => named(s, "memo", "reason"),
    value: (rng) => rng.pick([emoji(257), "m".repeat(257), emoji(200) + "m".repeat(57)]),
  },
  { name: "label over 64 characters", matches: (s) => named(s, "label"), value: (rng) => rng.pick([emoji(65), "l".repeat(65)]) },
  {
    name: "bad display name",
    matches: (s) => named(s, "display_name"),
    value: (rng, init, site) => (masked(init, site), rng.pick([emoji(101), "d".repeat(101), "bell\u0007", "tab\there", "\u009fc1"])),
  },
  {
    name: "bad handle",
    matches: (s) => named(s, "handle"),
    value: (rng, init, site) => (masked(init, site), rng.pick(["", "ab", "1abc", "\ufeffalice", " alice", "alice ", "al ice", "h".repeat(31), "ａlice", "abc-d", "😀abc"])),
  },
  {
    name: "bad email",
    matches: (s) => named(s, "email"),
    value: (rng, init, site) => (masked(init, site), rng.pick([" a@example.com", "a@example.com ", "no-at", "a@b", "a b@example.com", `${"e".repeat(250)}@x.io`])),
  },
  {
    name: "external identity part empty or over 255",
    matches: (s) => named(s, "provider", "subject"),
    value: (rng) => rng.pick(["", "p".repeat(256), emoji(256)]),
  },
  {
    name: "malformed currency code",
    matches: (s) => isText(s) && (named(s, "currency") || (named(s, "code") && parentIs(s, "GetCurrencyRequest"))),
    value: (rng) => rng.pick(["usd", "U", "US D", "ABCDEFGHIJKLM", "€UR", "1AB", "USD "]),
  },
  {
    name: "bad audit action",
    matches: (s) => named(s, "action"),
    value: (rng, _init, site) => (parentIs(site, "AppendRequest") ? rng.pick(["", "UPPER", "a b", "a".repeat(65), "é"]) : "a".repeat(65)),
  },
  {
    name: "audit resource_type empty (Append) or over 64",
    matches: (s) => named(s, "resource_type"),
    value: (rng, _init, site) => (parentIs(site, "AppendRequest") ? rng.pick(["", emoji(65)]) : emoji(65)),
  },
  { name: "audit resource_id over 128", matches: (s) => named(s, "resource_id"), value: (rng) => rng.pick([emoji(129), "r".repeat(129)]) },
  { name: "actor filter over 512", matches: (s) => named(s, "actor"), value: () => "a".repeat(513) },
  { name: "bad handle_prefix", matches: (s) => named(s, "handle_prefix"), value: (rng) => rng.pick(["%", "a b", "h".repeat(31), "é", "_%", "\\"]) },
  {
    name: "page token not issued here",
    matches: (s) => named(s, "page_token"),
    value: (rng) => {
      const b64 = (text: string) => Buffer.from(text).toString("base64url");
      return rng.pick([b64("null"), b64("[]"), b64("7"), b64('{"c":"x","f":"y"}'), b64('{"c":1}'), Buffer.from(rng.bytes(24)).toString("base64url"), "t".repeat(513), "!!", "😀"]);
    },
  },
  { name: "unknown consistency", matches: (s) => named(s, "consistency"), value: (rng) => rng.pick([3, 99, -1, INT32_MAX]) },
  {
    name: "unknown status filter",
    matches: (s) => named(s, "status") && parentIs(s, "ListAccountsRequest", "ListUsersRequest"),
    value: (rng) => rng.pick([4, 99, -1, INT32_MIN]),
  },
  { name: "unknown system role", matches: (s) => named(s, "system") && parentIs(s, "AccountOwner"), value: (rng) => rng.pick([0, 5, 99, -1]) },
  { name: "event id not > 0", matches: (s) => named(s, "id") && parentIs(s, "GetEventRequest"), value: (rng) => rng.pick([0n, -1n, INT64_MIN]) },
  { name: "negative sequence", matches: (s) => named(s, "from_sequence", "to_sequence"), value: (rng) => rng.pick([-1n, INT64_MIN]) },
  { name: "timeout_ms out of 0..30 days", matches: (s) => named(s, "timeout_ms"), value: (rng) => rng.pick([-1n, 2_592_000_001n, INT64_MAX, INT64_MIN]) },
  { name: "negative as_of_position", matches: (s) => named(s, "as_of_position"), value: (rng) => rng.pick([-1n, INT64_MIN]) },
  { name: "version not > 0", matches: (s) => named(s, "version") && parentIs(s, "UpdateUserRequest"), value: (rng) => rng.pick([0n, -1n, INT64_MIN]) },
  {
    name: "negative overdraft limit",
    matches: (s) => named(s, "overdraft_limit"),
    value: (rng, init) => {
      init.policy = { ...(init.policy as object | undefined), allowNegative: true };
      return rng.pick([-1n, INT64_MIN]);
    },
  },
];

/** Rules that shape a whole request rather than one field. */
export const REQUEST_RULES: Record<string, (rng: Rng, init: Record<string, unknown>) => string> = {
  "aevon.ledger.v1.TransferBatchRequest": (rng, init) => {
    const n = rng.pick([0, 101]);
    init.legs = Array.from({ length: n }, () => ({ debitAccountId: rng.uuid(), creditAccountId: rng.uuid(), amount: 1n }));
    return `${n} legs`;
  },
  "aevon.identity.v1.BatchGetUsersRequest": (rng, init) => {
    const n = rng.pick([0, 101]);
    init.userIds = Array.from({ length: n }, () => rng.uuid());
    return `${n} ids`;
  },
  "aevon.identity.v1.UpdateUserRequest": (rng, init) => {
    init.updateMask = { paths: rng.pick([[], ["id"], ["handle", "status"], ["Handle"], ["display_name", ""]]) };
    return `update_mask ${JSON.stringify(init.updateMask)}`;
  },
  "aevon.ledger.v1.GetTransferRequest": (_rng, init) => ((init.lookup = undefined), "no lookup"),
  "aevon.identity.v1.GetUserRequest": (_rng, init) => ((init.lookup = undefined), "no lookup"),
  "aevon.identity.v1.LinkExternalIdentityRequest": (_rng, init) => ((init.externalIdentity = undefined), "no external_identity"),
  "aevon.ledger.v1.CreateAccountRequest": (rng, init) => {
    if (rng.chance(0.5)) return (init.owner = undefined), "no owner";
    init.owner = { owner: { case: "system", value: 1 } };
    init.isDefault = true;
    return "is_default on a system account";
  },
};
