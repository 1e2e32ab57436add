# syntax=docker/dockerfile:1
# codex-api-server in a container: the native executable on Ubuntu 24.04, running as a non-root
# user, the data directory a volume. The CLIs come with one build argument:
#   docker build -t codex-api-server .                                  # both CLIs (the default)
#   docker build --build-arg CLIS="@openai/codex" -t codex-api-server .   # only Codex
#   docker build --build-arg CLIS="" -t codex-api-server .                # none (mount your own)
ARG CLIS="@openai/codex @anthropic-ai/claude-code"

# Build and run on the same Ubuntu release, so the executable finds the glibc it was linked against.
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang lld zlib1g-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN dotnet publish -c Release -o /out && rm -f /out/*.dbg

# The CLIs and the node that runs them, in a folder of their own; empty when CLIS is empty.
FROM node:22-bookworm-slim AS clis
ARG CLIS
RUN mkdir -p /opt/clis/bin \
 && if [ -n "$CLIS" ]; then \
      npm install -g --prefix /opt/clis --no-audit --no-fund $CLIS \
      && cp /usr/local/bin/node /opt/clis/bin/node \
      && npm cache clean --force; \
    fi

FROM ubuntu:24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --home-dir /home/app --uid 10001 app \
 && mkdir /data && chown app:app /data
COPY --from=clis /opt/clis /opt/clis
COPY --from=build /out/codex-api-server /usr/local/bin/codex-api-server
ENV PATH=/opt/clis/bin:$PATH \
    CODEX_API_SERVER_DATA_DIR=/data \
    CODEX_API_SERVER_HOST=0.0.0.0
USER app
WORKDIR /home/app
# /data: config.json and the database. The CLIs keep their logins in the home folder
# (~/.codex, ~/.claude): mount a volume there too to keep them across containers.
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["codex-api-server"]
