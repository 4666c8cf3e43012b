/**
 * CPU per request of the contract's rules (src/rpc/validation.ts): a valid
 * TransferRequest, and a valid TransferBatchRequest of 100 legs, validated
 * N times by the service's one validator after a warm-up (the first call
 * compiles the rules). Prints µs per message. In-process, no transport.
 *
 *   npx tsx bench/validation.ts        N=20000
 */
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { TransferBatchRequestSchema, TransferRequestSchema } from "../src/gen/aevon/ledger/v1/ledger_pb.js";
import { validateRequest } from "../src/rpc/validation.js";

const N = Number(process.env.N ?? 20_000);
const DEBIT = "0190a0a0-0000-7000-8000-000000000001";
const CREDIT = "0190a0a0-0000-7000-8000-000000000002";

function perMessageMicros<D extends DescMessage>(schema: D, message: MessageShape<D>, n: number): number {
  for (let i = 0; i < Math.min(1000, n); i++) validateRequest(schema, message);
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) validateRequest(schema, message);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

const transfer = create(TransferRequestSchema, { idempotencyKey: "pay-1", debitAccountId: DEBIT, creditAccountId: CREDIT, amount: 1050n, currency: "USD", memo: "coffee" });
const leg = { debitAccountId: DEBIT, creditAccountId: CREDIT, amount: 1050n, currency: "USD", memo: "coffee" };
const batch = create(TransferBatchRequestSchema, { idempotencyKey: "batch-1", legs: Array.from({ length: 100 }, () => leg) });

console.log(`TransferRequest:               ${perMessageMicros(TransferRequestSchema, transfer, N).toFixed(1)} µs per message`);
console.log(`TransferBatchRequest, 100 legs: ${perMessageMicros(TransferBatchRequestSchema, batch, Math.max(1, Math.floor(N / 50))).toFixed(1)} µs per message`);
