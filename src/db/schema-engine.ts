/**
 * Prisma's schema engine, compiled to wasm, driven over adapter-pg (see
 * migrations.ts for why): loading it once per process, connecting it to a
 * database or to nothing (pure datamodel diffs), and making its logs and
 * errors readable.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import * as wasmBindings from "@prisma/schema-engine-wasm/schema_engine_bg";
import type { SchemaEngine, SchemaFilter } from "@prisma/schema-engine-wasm/schema_engine_bg";
import pg from "pg";

/** The subset of a pino logger these functions use. */
export interface MigrationLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** No external tables or enums: the engine owns the whole schema. */
export const NO_FILTER: SchemaFilter = { externalTables: [], externalEnums: [] };

const require = createRequire(import.meta.url);
// lib ES2023 + @types/node 20 type WebAssembly as a namespace only.
const { WebAssembly: wasm } = globalThis as unknown as {
  WebAssembly: {
    compile(bytes: Uint8Array): Promise<object>;
    instantiate(module: object, imports: object): Promise<{ exports: Record<string, unknown> }>;
  };
};
let wasmReady: Promise<void> | undefined;

/** Instantiates the engine's wasm once per process (Node 20 cannot `import` a .wasm), as Prisma's CLI does. */
function loadEngine(): Promise<typeof wasmBindings.SchemaEngine> {
  wasmReady ??= (async () => {
    const dir = path.dirname(require.resolve("@prisma/schema-engine-wasm/schema_engine_bg"));
    const module = await wasm.compile(await readFile(path.join(dir, "schema_engine_bg.wasm")));
    const instance = await wasm.instantiate(module, { "./schema_engine_bg.js": wasmBindings });
    wasmBindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return wasmReady.then(() => wasmBindings.SchemaEngine);
}

async function withEngine<T>(
  adapterFactory: object,
  logger: MigrationLogger | undefined,
  fn: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const SchemaEngineClass = await loadEngine();
  const engine = await SchemaEngineClass.new({ datamodels: undefined }, engineLog(logger), adapterFactory).catch(
    (e) => {
      throw engineError("Starting the migration engine failed", e);
    },
  );
  try {
    return await fn(engine);
  } finally {
    engine.free();
  }
}

/** Runs `fn` with an engine connected to `databaseUrl` through adapter-pg. */
export async function withDatabaseEngine<T>(
  databaseUrl: string,
  logger: MigrationLogger | undefined,
  fn: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  if (!/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    // Never echo the URL: it may carry a password.
    throw new Error("Migrations need a postgres:// or postgresql:// URL (an Accelerate URL cannot run DDL).");
  }
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get("schema") || "public";
  // A URL's own `options` would override ours in pg, so merge and drop it.
  const urlOptions = url.searchParams.get("options") ?? "";
  url.searchParams.delete("schema");
  url.searchParams.delete("options");
  const searchPath = `"${schema.replaceAll('"', '""')}"`.replace(/[\\\s]/g, "\\$&");
  const pool = new pg.Pool({
    connectionString: url.toString(),
    options: `${urlOptions} -c search_path=${searchPath}`.trim(),
    // One connection: the engine's session-level advisory lock (taken before
    // applying, released after) must be held by the session that migrates.
    max: 1,
  });
  pool.on("error", () => {}); // an idle connection dropping is reported by the next query
  try {
    return await withEngine(bindMigrationAwareSqlAdapterFactory(new MigrationPg(pool, { schema })), logger, fn);
  } finally {
    await pool.end();
  }
}

/** adapter-pg with the native engine's script semantics, and no shadow database. */
class MigrationPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    // executeRaw without arguments goes through pg's simple-query protocol,
    // which runs a multi-statement script as one implicit transaction and
    // maps errors the way the adapter does for any query.
    adapter.executeScript = async (script: string) => {
      await adapter.executeRaw({ sql: script, args: [], argTypes: [] });
    };
    return adapter;
  }

  override async connectToShadowDb(): Promise<never> {
    throw new Error("Shadow databases are not supported by src/db/migrations.ts");
  }
}

/**
 * Runs `fn` with an engine that never reaches a database: diffing two
 * datamodels is pure, but the wasm engine insists on probing the server at
 * start-up, so we answer that one probe and refuse anything else.
 */
export function withOfflineEngine<T>(fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const refuse = async (query: { sql: string }) => {
    throw new Error(`createMigration needs no database, but the engine sent: ${query.sql}`);
  };
  const adapter: SqlDriverAdapter = {
    provider: "postgres",
    adapterName: "offline",
    queryRaw: async (query: { sql: string }) => {
      if (!query.sql.includes("server_version_num")) return refuse(query);
      // "the schema exists", version(), server_version_num: what PostgreSQL 17 answers.
      return { columnNames: ["exists", "version", "numeric_version"], columnTypes: [5, 7, 0], rows: [[true, "PostgreSQL 17.0", 170000]] };
    },
    executeRaw: refuse,
    executeScript: (sql: string) => refuse({ sql }),
    startTransaction: () => refuse({ sql: "BEGIN" }),
    getConnectionInfo: () => ({ schemaName: "public", supportsRelationJoins: true }),
    dispose: async () => {},
  };
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: "postgres",
    adapterName: "offline",
    connect: async () => adapter,
    connectToShadowDb: () => refuse({ sql: "(shadow database)" }),
  };
  return withEngine(bindMigrationAwareSqlAdapterFactory(factory), undefined, fn);
}

/** The engine logs JSON lines; pass on its warnings and errors. */
function engineLog(logger: MigrationLogger | undefined): (line: string) => void {
  return (line) => {
    if (!logger) return;
    try {
      const { level, fields } = JSON.parse(line) as { level?: string; fields?: Record<string, unknown> };
      const { message, ...rest } = fields ?? {};
      if (level === "WARN") logger.warn({ engine: rest }, String(message));
      if (level === "ERROR") logger.error({ engine: rest }, String(message));
    } catch {
      // not JSON: ignore
    }
  };
}

/** Engine errors carry a Rust span trace after the message; keep the message, the migration and Prisma's error code. */
export function engineError(context: string, error: unknown): Error {
  const raw = error instanceof Error ? error.message : String(error);
  const migration = /migration_name="([^"]+)"/.exec(raw)?.[1];
  if (migration) context += ` in ${migration}`;
  const lines = raw.split("\n");
  const trace = lines.findIndex((line) => /^\s+\d+: /.test(line));
  const message = (trace === -1 ? lines : lines.slice(0, trace))
    .join("\n")
    .replace(/^external connector error\n/, "")
    .trim();
  const code = (error as { code?: string } | null)?.code;
  return Object.assign(new Error(`${context}: ${code ? `${code} ` : ""}${message}`, { cause: error }), { code });
}
