# PhoneGraph server.
#   docker build -t phonegraph .
#   docker run -p 8000:8000 -v phonegraph-data:/app/data \
#     -e PHONEGRAPH_BOOTSTRAP_TOKEN=<a secret of your choice> phonegraph
# `phonegraph serve` applies the migrations at every start, then serves on 0.0.0.0:8000.

# ---- GraphiQL's browser files, from the npm registry at the versions package-lock.json pins
FROM node:20-bookworm-slim AS graphiql
WORKDIR /src
COPY package.json package-lock.json ./
COPY app/static/install-graphiql-assets.mjs app/static/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && node app/static/install-graphiql-assets.mjs

# ---- the server
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PHONEGRAPH_HOST=0.0.0.0 \
    PHONEGRAPH_PORT=8000
WORKDIR /app
# The project is installed in place: it reads its migrations from /app/migrations, and
# keeps its data (SQLite database, secret key, local TFTP folder) in /app/data.
COPY pyproject.toml README.md ./
COPY migrations ./migrations
COPY app ./app
COPY --from=graphiql /src/app/static/graphiql/vendor ./app/static/graphiql/vendor
RUN pip install --editable . \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin phonegraph \
    && mkdir -p /app/data \
    && chown phonegraph:phonegraph /app/data
USER phonegraph
VOLUME ["/app/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PHONEGRAPH_PORT', '8000'), timeout=4)"]
CMD ["phonegraph", "serve"]
