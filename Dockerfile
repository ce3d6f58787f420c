# syntax=docker/dockerfile:1.7
# gptql images. Two targets share the build stages:
#   docker build --target cpu  -t gptql:cpu  .   # API pods and CPU workers
#   docker build --target cuda -t gptql:cuda .   # GPU workers (DEVICE=cuda)
# Both run `node dist/src/main.js` as an unprivileged user; ROLE / --role picks api, worker or all.

# Node 24 LTS. Its npm (11.19 since 24.22) must be 11.16 or later (devEngines in package.json): the
# first to read allowScripts, which keeps onnxruntime-node's CUDA download out of the CPU image.
ARG NODE_VERSION=24.22.3
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# --- build: full dependency tree (TypeScript), compile to dist/ ---------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY model ./model
RUN npm run build \
 # DEFAULT_MODEL_DIR resolves next to the compiled model/default-dir.js, so the shipped model goes there.
 && cp -r model/default dist/model/default \
 # The inference worker thread is plain JS in dist; worker-bootstrap.mjs only serves tsx.
 && test -f dist/src/inference/worker.js

# --- production dependencies only (package.json's allowScripts skips onnxruntime's CUDA download) --
FROM node:${NODE_VERSION}-bookworm-slim AS deps-cpu
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- the same, with ONNX Runtime's CUDA execution provider installed at build time --------------
# See CUDA_INSTALL_HELP in src/inference/ort-session.ts: DEVICE=cuda refuses to start without it.
# The package's own install script, run directly: npm (rebuild included) skips it, as allowScripts
# in package.json denies it.
FROM deps-cpu AS deps-cuda
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# --- CPU runtime ------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS cpu
ENV NODE_ENV=production \
    PORT=4000 \
    DATA_DIR=/var/lib/gptql
WORKDIR /app
# uid 10001 matches runAsUser in k8s/; /var/lib/gptql is the writable data folder (an emptyDir
# in Kubernetes, where the root filesystem is read-only).
RUN groupadd --system --gid 10001 gptql \
 && useradd --system --uid 10001 --gid gptql --home-dir /app --shell /usr/sbin/nologin gptql \
 && mkdir -p /var/lib/gptql && chown gptql:gptql /var/lib/gptql
COPY --from=deps-cpu --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# The web page's client is bundled by esbuild in memory at start-up, from its TypeScript source
# found relative to the working directory (src/web/assets.ts).
COPY --chown=root:root src/web/client ./src/web/client
# The persisted operations' manifest (PERSISTED_OPERATIONS), where dist/src/server looks for it.
COPY --chown=root:root schema/persisted-operations.json ./dist/schema/
USER 10001:10001
EXPOSE 4000
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["--role", "api"]

# --- CUDA runtime: CUDA 12 + cuDNN 9 from NVIDIA's image, Node copied from the official image -------
FROM node:${NODE_VERSION}-bookworm-slim AS node-binary

FROM ${CUDA_IMAGE} AS cuda
ENV NODE_ENV=production \
    PORT=4000 \
    DATA_DIR=/var/lib/gptql \
    DEVICE=cuda
COPY --from=node-binary /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
RUN groupadd --system --gid 10001 gptql \
 && useradd --system --uid 10001 --gid gptql --home-dir /app --shell /usr/sbin/nologin gptql \
 && mkdir -p /var/lib/gptql && chown gptql:gptql /var/lib/gptql
COPY --from=deps-cuda --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# The web page's client is bundled by esbuild in memory at start-up, from its TypeScript source
# found relative to the working directory (src/web/assets.ts).
COPY --chown=root:root src/web/client ./src/web/client
# The persisted operations' manifest (PERSISTED_OPERATIONS), where dist/src/server looks for it.
COPY --chown=root:root schema/persisted-operations.json ./dist/schema/
USER 10001:10001
EXPOSE 4000
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["--role", "worker"]
