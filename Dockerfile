# syntax=docker/dockerfile:1
# Build stage: install with dev dependencies (the Prisma CLI generates the client), compile, then drop dev deps.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY client/package.json client/
COPY web/package.json web/
COPY prisma prisma
COPY scripts scripts
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json tsconfig.build.json ./
COPY client client
COPY src src
COPY web web
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# Runtime stage: compiled code, production dependencies and the migrations (applied at start). Runs as `node`.
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    PROMPTREG_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/client/package.json client/package.json
COPY --from=build /app/client/dist client/dist
COPY --from=build /app/dist dist
COPY --from=build /app/web/dist web/dist
COPY --from=build /app/prisma prisma
RUN mkdir -p /data && chown node:node /data
USER node
# The embedded database and the generated admin key live here; with DATABASE_URL only the key file does.
VOLUME /data
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/cli.js", "serve"]
