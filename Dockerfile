# syntax=docker/dockerfile:1
# The one vigil image: the operator, the model server and the training and drift jobs are
# all subcommands of the same binary, and the chart runs it as /usr/local/bin/vigil.
#
#   docker build -t vigil:0.1.0 .

# bookworm, to match the glibc of the distroless runtime below.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
# rust-toolchain.toml asks for clippy and rustfmt too, which a release build never uses;
# naming the toolchain here stops rustup from downloading them into the image.
ENV RUSTUP_TOOLCHAIN=1.95.0 \
    CARGO_TERM_COLOR=never
COPY . .
# Cache mounts keep the registry and the dependency builds across rebuilds; the binary is
# copied out because the target cache is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vigil \
    && cp target/release/vigil /vigil

# cc: glibc and libgcc for the Rust binary, CA certificates for S3 and webhooks, no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /vigil /usr/local/bin/vigil
# The same uid the chart and the operator's Pods run as (runAsUser 65532).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/vigil"]
