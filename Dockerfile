# syntax=docker/dockerfile:1
# Ledger of Record — multi-stage image: build with dev dependencies, run with
# production dependencies only, as a non-root user. On start it applies
# pending migrations (MIGRATE_ON_START=true, the default), then serves.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY prisma ./prisma
COPY prisma.config.ts ./
# `npm ci` runs "prepare", which generates the Prisma Client offline.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
COPY scripts ./scripts
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; no install scripts (nothing is downloaded).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The generated Prisma Client is compiled into dist/; the schema, migrations
# and .proto files are read at run time (migrations, reflection).
COPY package.json ./
COPY prisma ./prisma
COPY proto ./proto
USER node
EXPOSE 50051 8080
# A database URL is expected in production (the embedded PostgreSQL is for
# local work): DATABASE_URL=postgres://… or prisma+postgres://… with DIRECT_DATABASE_URL.
CMD ["node", "dist/src/server/main.js"]
