/** Double spends, opposite transfers and retry storms with one transaction per transfer. */
import { concurrencySuite } from "./concurrency-suite.js";

concurrencySuite({ TRANSFER_GROUP_MAX: "1" });
