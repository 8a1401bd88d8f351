# git-agent in a container: build with the Rust image, run on a small Debian with git.
#
#   docker build -t git-agent .
#   docker run --rm -it --user "$(id -u):$(id -g)" -e HOME=/tmp -e ANTHROPIC_API_KEY \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     -v "$HOME/.gitconfig:/tmp/.gitconfig:ro" -v "$PWD:/work" \
#     git-agent start "add a --json flag to the list command"
#
# The sandbox needs Landlock (Linux 5.13+) and, for its namespaces, unshare(2) with user
# namespaces: Docker's default seccomp profile refuses those to a container without
# CAP_SYS_ADMIN, hence the two --security-opt above (README, "Packages"). Untested here: the
# machine this was written on has no Docker engine.
#
# As a fleet worker (README, "A fleet of workers sharing one remote"), the container clones
# the queue's repository itself, one clone per container, and runs the worker there:
#
#   docker run --rm -e HOME=/tmp -e ANTHROPIC_API_KEY -e GIT_URL \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     --entrypoint sh git-agent -c 'git clone -q "$GIT_URL" /tmp/r && cd /tmp/r &&
#       git config user.name fleet && git config user.email fleet@example.com &&
#       exec git agent worker --lease 10m'
#
# `docker stop` sends SIGTERM: the worker finishes its tool call, pushes, releases its lease
# and exits 130 (give it time: `docker stop -t 120`). examples/fleet/kubernetes-job.yaml runs
# the same in a Kubernetes Job.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin git-agent

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/git-agent /usr/local/bin/git-agent
COPY --from=build /src/man/git-agent.1 /usr/local/share/man/man1/git-agent.1
# The repository is mounted here; git refuses a repository owned by another user unless told.
RUN git config --system --add safe.directory /work
WORKDIR /work
ENTRYPOINT ["git", "agent"]
CMD ["-h"]
