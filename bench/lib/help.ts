/** `npm run bench -- --help` */
export const HELP = `npm run bench -- [flags]        load benchmark of the service (ghz-like), with baselines

Modes
  (default)                 suite: --scenario all, each against its baselines, alternating windows
  --scenario <names|all>    suite of: transfer-uniform, transfer-hot, get-balance, get-user, read-write-mix, health
  --call <method>           one ghz-style run, e.g. --call aevon.ledger.v1.LedgerService/Transfer -d '{…}'
  --soak <minutes>          read-write-mix at --rps (default 100) for that long; samples server RSS and heap
  --print-fixture           seed, print the fixture (host, account and user ids) as JSON, serve until Ctrl-C
    --ghz-data <dir>          also write ghz data files (<scenario>.json) there

Load (ghz names)
  -c, --concurrency <n>     calls in flight (cap on them under --rps)       default 64
  -n, --total <n>           measured calls per run (overrides -z)
  -z, --duration <d>        measured window per run                         default 10s
  -r, --rps <n>             open-loop rate: calls started per second        default none (closed loop)
      --warmup <d>          unmeasured load before each window              default 2s
  -t, --timeout <d>         deadline per call                               default 20s
      --connections <n>     HTTP/2 connections                              default 1
  -d, --data <json>         data template ({{.RequestNumber}} {{.TimestampUnixNano}} {{newUUID}}
                            {{randomAccount}} {{hotAccount}} {{randomUser}} …); an array is used round-robin
  -D, --data-file <path>    data template from a file
  -m, --metadata <json>     metadata template, every call (seeding too)
      --insecure            plaintext (default)   --cacert --cert --key --cname  TLS
  -O, --format text|json    report format                                   default text
  -o, --output <path>       write the report there

Suite
      --rounds <n>          windows per scenario and baseline (medians)     default 3
      --accounts <n>        funded wallets, one user each                   default 10000
      --no-baselines        service only
      --no-results          do not write bench/results/<date>.md
      --results-dir <dir>                                                   default bench/results
      --pgbench <path>      pgbench binary                                  default pgbench on PATH
      --pgbench-scale <n>   pgbench -i -s                                   default 10
      --sample-interval <d> soak sampling                                   default 5s

Server under test (the "start" script of package.json, as a child process)
      --log-level <level>   its LOG_LEVEL                                   default warn
      --server-env K=V      extra environment (repeatable)
      --server-node-args "…" extra node flags, e.g. "--cpu-prof"
      --port <n>            its gRPC port                                   default a free port

Database: DATABASE_URL's server (a fresh bench_<random> database, dropped at the end), else an
embedded PostgreSQL in a temporary folder. pgbench and the raw-SQL baseline use the same server.
`;
