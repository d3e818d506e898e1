# Build: docker build -t metrics-apiserver:latest .
# The build stage uses Alpine, whose Rust targets musl and links statically, so the final image
# can be distroless "static": no libc, no shell, nothing but the server binary and CA roots.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY src ./src
COPY benches ./benches
COPY tests ./tests
# The simulator is a workspace member, so its manifest and sources must be present; the build
# below is of the root package only (the server), as in CI, so none of it is compiled in.
COPY sim ./sim
RUN cargo build --release --locked \
 && strip target/release/metrics-apiserver

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/metrics-apiserver /metrics-apiserver
USER 65534:65534
ENTRYPOINT ["/metrics-apiserver"]
