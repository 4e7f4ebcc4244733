# syntax=docker/dockerfile:1
# The promotion gate: `node dist/server.js` on port 8080 as uid 10001, with the `gate` CLI on PATH.
# Stages: build (all dependencies, tsc) -> deps (production dependencies only) -> runtime.
# Pinned to the Node release of package.json (devDependency `node`), which the npm scripts and tests
# run on; raise both together.
ARG NODE_IMAGE=docker.io/library/node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && cd src \
 && find . -type f \( -name '*.html' -o -name '*.css' -o -name '*.js' \) -exec cp --parents {} ../dist/ \;

FROM ${NODE_IMAGE} AS deps
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    GATE_HOST=0.0.0.0 \
    GATE_PORT=8080 \
    GATE_DATA_DIR=/data
RUN groupadd --system --gid 10001 gate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gate \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && printf '#!/bin/sh\nexec node /app/dist/cli.js "$@"\n' > /usr/local/bin/gate \
 && chmod 0755 /usr/local/bin/gate
WORKDIR /app
COPY --from=deps --chown=0:0 /src/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --chown=0:0 package.json ./
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
CMD ["node", "dist/server.js"]
