# syntax=docker/dockerfile:1
# Build with the full Node 24 image, run on the slim one.
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# A 1 MiB young generation: the service allocates little per request, and this keeps its
# resident memory under 80 MiB at start without a measurable cost in throughput (npm run bench
# runs with the same options).
ENV NODE_OPTIONS="--max-semi-space-size=1"
WORKDIR /app
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY assets ./assets
# A numeric, non-root user: the manifests' runAsNonRoot can verify it without a passwd lookup.
USER 10001:10001
EXPOSE 8080
CMD ["node", "dist/main.js"]
