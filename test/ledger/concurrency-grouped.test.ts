/** Double spends, opposite transfers and retry storms with group commit on (the default). */
import { concurrencySuite } from "./concurrency-suite.js";

concurrencySuite({ TRANSFER_GROUP_MAX: "64" });
