# The relhost image, as the pods of `relhost k8s` run it:
#   docker build -t registry.example/relhost:0.1.0 .
# The built-in plugins are wasm32-wasip2 components compiled into the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
RUN cargo build --release --locked -p relhost \
    && install -m 0755 target/release/relhost /relhost

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /relhost /usr/local/bin/relhost
# A numeric user, so that Kubernetes can check runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["relhost"]
