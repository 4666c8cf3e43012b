# syntax=docker/dockerfile:1
# Ledger of Record — multi-stage image: build with dev dependencies, run the
# compiled JavaScript (the same `npm start` that the tests start) with
# production dependencies only, as a non-root user. On start it applies
# pending migrations (MIGRATE_ON_START=true, the default), then serves.
#
# Node.js 22 LTS (Node 20 reached end of life in April 2026).

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY prisma ./prisma
COPY src ./src
COPY scripts ./scripts
# `npm ci` runs "prepare": the Prisma Client is generated offline and the
# TypeScript is compiled to dist/ (src/ and scripts/).
RUN npm ci --no-audit --no-fund

FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: no dev tools, no embedded PostgreSQL (an
# optional dependency, used only when DATABASE_URL is unset), no install scripts.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Read at run time: the migrations (applied at start, or by the command below).
COPY prisma/migrations ./prisma/migrations
USER node
EXPOSE 50051 8080
# grpc.health.v1.Health/Check on the service's own port (TLS when TLS_CERT_FILE
# is set; with mTLS, HEALTHCHECK_CERT_FILE/HEALTHCHECK_KEY_FILE name a client certificate).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/scripts/healthcheck.js"]
# A database URL is required in production (the embedded PostgreSQL is for
# local work): DATABASE_URL=postgres://… (the service's least-privileged role)
# or prisma+postgres://… (Accelerate), with MIGRATION_DATABASE_URL (the owner).
# Migrations by hand, with MIGRATE_ON_START=false, and the operator CLI
# (exit codes in the README, "Operator CLI"):
#   docker run … ledger-of-record node dist/src/cli/main.js migrate deploy
#   docker run … ledger-of-record node dist/src/cli/main.js reconcile
#   docker run … ledger-of-record node dist/src/cli/main.js verify-audit
CMD ["node", "dist/src/server/main.js"]
