# Build: docker build -t metrics-apiserver:latest .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# The simulator is a workspace member, so its manifest must be present; it is not built.
COPY sim ./sim
RUN cargo build --release --locked \
 && strip target/release/metrics-apiserver

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/metrics-apiserver /metrics-apiserver
USER 65534
ENTRYPOINT ["/metrics-apiserver"]
