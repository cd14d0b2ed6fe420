# syntax=docker/dockerfile:1
# One image for the three services; SERVICE picks which one a container runs.
#   docker build --build-arg SERVICE=gateway -t imagehost-gateway .
# Node's current LTS line; the project is also tested on Node 20.19+.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY libs libs
COPY services services
COPY scripts scripts
COPY tools tools
RUN npm ci --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && find libs services -name src -type d -prune -exec rm -rf {} + \
 && rm -rf tools

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG SERVICE=gateway
ENV NODE_ENV=production \
    SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/libs libs
COPY --from=build /app/services services
# The image's own unprivileged user; the root filesystem can be mounted read-only.
USER node
EXPOSE 8080 9091 9092 9093
CMD ["sh", "-c", "exec node --enable-source-maps services/${SERVICE}/dist/main.js"]
