# syntax=docker/dockerfile:1
# ovserve in a container: one route per container (ROUTE), or every route (ROUTE=all).
#   docker build -t ovserve:0.1.0 .
#   docker run --rm -p 8000:8000 -e ROUTE=embeddings ovserve:0.1.0
# Without a mount, /models is a fresh volume holding the fixture config (models/config.json), whose
# `build` keys make the tiny test models at start. Mount your own repository there instead
# (-v /srv/models:/models:ro, a config.json beside the model folders), or set OVSERVE_CONFIG.
# test/deploy/manifests.test.ts runs this file's ENTRYPOINT and HEALTHCHECK the way the image does.

ARG NODE_IMAGE=node:20-bookworm-slim

# Production dependencies only.
# --build-arg NPM_CI_FLAGS="--omit=dev --omit=optional" leaves out openvino-node (onnxruntime only).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
ARG NPM_CI_FLAGS="--omit=dev"
RUN npm ci ${NPM_CI_FLAGS} && npm cache clean --force

# The server as JavaScript (`npm run build`: tsc, a dev dependency), so the image runs no TypeScript
# loader: measured, that saves about 80 MB of RSS per server process.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=optional
COPY tsconfig.json tsconfig.build.json ./
COPY runtime ./runtime
COPY handlers ./handlers
COPY models ./models
COPY wrangler-free-local ./wrangler-free-local
COPY deploy/prepare-models.ts ./deploy/prepare-models.ts
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY models/config.json ./models/config.json
COPY --from=build /app/dist ./dist
# The default models volume: the fixture config, writable by the server's user so a fresh volume
# can hold the fixtures it builds. The application files stay root-owned and read-only to it.
RUN mkdir -p /models && cp models/config.json /models/config.json && chown -R 1000:1000 /models
VOLUME ["/models"]

# HOST must not be loopback in a container (the port would be unreachable). Bound to 0.0.0.0 the
# server skips the Host check unless OVSERVE_ALLOWED_HOSTS names hosts. GRPC_PORT empty: no gRPC.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    ROUTE=all \
    GRPC_PORT= \
    OVSERVE_CONFIG=/models/config.json \
    OVSERVE_DRAIN_TIMEOUT_S=30
EXPOSE 8000 8001

# The node image's unprivileged user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000

# node's fetch: the slim image has no curl. 200 once every model is warm, 503 while loading/draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/v2/health/ready',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Exec form, no shell and no npm: node is PID 1 and gets the SIGTERM itself. PID 1 has no default
# signal actions, so this relies on the server's own SIGTERM/SIGINT handlers (drain, then exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/wrangler-free-local/cli.js"]
