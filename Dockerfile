# syntax=docker/dockerfile:1
# One image for the three services; the SERVICE variable picks the process a container runs
# (gateway by default, ingest or reaper). Build it for the machine's own platform:
#   docker build -t imagehost:0.1.0 .
# or for several, pushed to a registry (docs/operations.md):
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/imagehost:0.1.0 --push .
# deploy/test/image-build.slow.test.ts replays this file's build steps in `npm test`.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-trixie-slim AS build
WORKDIR /app
# Only what runs: the services, their libraries, and the lock. tools/, bench/ and soak/ are
# not in the context (.dockerignore), so npm never installs their dependencies.
COPY package.json package-lock.json tsconfig.base.json tsconfig.build.json ./
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
RUN npx tsc -b tsconfig.build.json
# The gateway's upload page (services/gateway/public) is served as written: nothing builds it.
# valibot (through bull-board) names TypeScript as an optional peer, so the prune keeps it;
# nothing loads it at run time.
RUN npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/typescript \
 && find libs services -mindepth 2 -maxdepth 2 \( -name src -o -name test \) -type d -exec rm -rf {} + \
 && find libs services -name '*.tsbuildinfo' -delete

FROM node:${NODE_VERSION}-trixie-slim AS runtime
# tini as PID 1 passes SIGTERM on and reaps children; jemalloc keeps the ingest worker's
# memory from fragmenting under sharp (sharp's advice for glibc). The link gives it one path
# on every architecture.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc.so.2$')" /usr/local/lib/libjemalloc.so.2
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="imagehost" \
      org.opencontainers.image.description="A free public image host: gateway, ingest worker and reaper (SERVICE picks one)." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="node:${NODE_VERSION}-trixie-slim"
ENV NODE_ENV=production \
    SERVICE=gateway
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/libs libs
COPY --from=build /app/services services
# The image's own unprivileged user; the root filesystem can be mounted read-only.
USER node
EXPOSE 8080 9091 9092 9093
# Each service's ops port defaults to its own (9091, 9092, 9093) unless OPS_PORT says otherwise.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const port = process.env.OPS_PORT || { gateway: 9091, ingest: 9092, reaper: 9093 }[process.env.SERVICE]; fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--"]
CMD ["sh", "-c", "if [ \"$SERVICE\" = ingest ]; then export LD_PRELOAD=/usr/local/lib/libjemalloc.so.2; fi; exec node --enable-source-maps \"services/$SERVICE/dist/main.js\""]
