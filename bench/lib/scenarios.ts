/**
 * The benchmark's scenarios: each is one or more weighted calls, a method and
 * a ghz-style data template over the seeded fixture (see template.ts). The
 * same loads are in bench/ghz/*.json for people who run ghz itself.
 */

export const TRANSFER = "aevon.ledger.v1.LedgerService/Transfer";
export const GET_BALANCE = "aevon.ledger.v1.LedgerService/GetBalance";
export const GET_USER = "aevon.identity.v1.IdentityService/GetUser";
export const HEALTH_CHECK = "grpc.health.v1.Health/Check";

/** Amount 1 between two distinct random funded wallets; a fresh idempotency key per call. */
export const TRANSFER_UNIFORM_DATA =
  '{"idempotency_key":"bench-{{newUUID}}","debit_account_id":"{{randomAccount}}","credit_account_id":"{{randomAccount}}","amount":"1"}';
/** Amount 1 from the one hot wallet to a random other wallet. */
export const TRANSFER_HOT_DATA =
  '{"idempotency_key":"bench-{{newUUID}}","debit_account_id":"{{hotAccount}}","credit_account_id":"{{randomAccount}}","amount":"1"}';
export const GET_BALANCE_DATA = '{"account_id":"{{randomAccount}}"}';
export const GET_USER_DATA = '{"user_id":"{{randomUser}}"}';
export const HEALTH_DATA = '{"service":""}';

export interface ScenarioCall {
  /** Full method name, `package.Service/Method`. */
  call: string;
  /** ghz-style JSON data template. */
  data: string;
  /** Relative share of the calls (a mix picks each call by weight). */
  weight: number;
}

export interface Scenario {
  name: ScenarioName;
  title: string;
  calls: ScenarioCall[];
}

export const SCENARIO_NAMES = ["transfer-uniform", "transfer-hot", "get-balance", "get-user", "read-write-mix", "health"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  "transfer-uniform": {
    name: "transfer-uniform",
    title: "Transfer of 1 between random pairs of funded wallets",
    calls: [{ call: TRANSFER, data: TRANSFER_UNIFORM_DATA, weight: 1 }],
  },
  "transfer-hot": {
    name: "transfer-hot",
    title: "Transfer of 1 from one hot wallet to random wallets",
    calls: [{ call: TRANSFER, data: TRANSFER_HOT_DATA, weight: 1 }],
  },
  "get-balance": {
    name: "get-balance",
    title: "GetBalance of random wallets",
    calls: [{ call: GET_BALANCE, data: GET_BALANCE_DATA, weight: 1 }],
  },
  "get-user": {
    name: "get-user",
    title: "GetUser by id of random users",
    calls: [{ call: GET_USER, data: GET_USER_DATA, weight: 1 }],
  },
  "read-write-mix": {
    name: "read-write-mix",
    title: "80% GetBalance / 20% Transfer (uniform)",
    calls: [
      { call: GET_BALANCE, data: GET_BALANCE_DATA, weight: 80 },
      { call: TRANSFER, data: TRANSFER_UNIFORM_DATA, weight: 20 },
    ],
  },
  health: {
    name: "health",
    title: "grpc.health.v1.Health/Check (the transport floor of the service)",
    calls: [{ call: HEALTH_CHECK, data: HEALTH_DATA, weight: 1 }],
  },
};

/** `all`, one name, or a comma-separated list → scenario names in canonical order. */
export function parseScenarioList(text: string): ScenarioName[] {
  const wanted = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (wanted.length === 0) throw new Error("--scenario: empty");
  if (wanted.includes("all")) return [...SCENARIO_NAMES];
  for (const name of wanted) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
      throw new Error(`--scenario: unknown scenario "${name}" (one of: all, ${SCENARIO_NAMES.join(", ")})`);
    }
  }
  return SCENARIO_NAMES.filter((n) => wanted.includes(n));
}
