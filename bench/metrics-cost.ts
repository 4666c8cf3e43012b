/**
 * CPU cost of the per-call metrics alone (`npx tsx bench/metrics-cost.ts`):
 * callStarted + callFinished, as both transports do per call, over the
 * label sets of a busy server; plus one scrape of the resulting registry.
 * Compare with the server CPU per call of `npm run bench` (≈0.45 ms for
 * GetBalance on the 2-core box): the ratio is the metrics' share.
 */
import { ServerMetrics } from "../src/server/metrics/instruments.js";

const metrics = new ServerMetrics({ pool: () => ({ total: 10, idle: 4, waiting: 0, max: 10 }) });
const paths = ["/aevon.ledger.v1.LedgerService/GetBalance", "/aevon.ledger.v1.LedgerService/Transfer", "/aevon.identity.v1.IdentityService/GetUser"];
const CALLS = 2_000_000;
for (let round = 0; round < 3; round++) {
  const started = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) {
    const path = paths[i % paths.length]!;
    metrics.callStarted("grpc", path);
    metrics.callFinished("grpc", path, i % 50 === 0 ? 5 : 0, 0.0005 + (i % 100) / 10_000);
  }
  const used = process.cpuUsage(started);
  console.log(`per call: ${(((used.user + used.system) / CALLS) * 1000).toFixed(0)} ns CPU`);
}
const t = process.hrtime.bigint();
const text = await metrics.registry.metrics();
console.log(`one scrape: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms, ${text.length} bytes`);
