# Build: docker build -t metrics-apiserver:latest .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin metrics-apiserver \
 && strip target/release/metrics-apiserver

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/metrics-apiserver /metrics-apiserver
USER 65534
ENTRYPOINT ["/metrics-apiserver"]
