// Deployment: what `APP build --out DIR` writes beside the log so that
// `docker-compose -f DIR/docker-compose.yml up` runs the app in containers on one host,
// and `docker stack deploy -c DIR/docker-stack.yml` runs it on a Docker Swarm cluster,
// each container running the same binary as one persona. docs/deploy.md describes every
// file.
//
// Two layers. plan_deployment() is a pure function from the app's description (its
// manifest, secret names included; see deploy_input) and the options to
// the generated files: the same input gives byte-identical files, so tools can compute
// the plan from a log alone and golden tests pin it. deployment_emitter() is the thin
// build emitter that computes the plan for a finished build and writes it, together
// with what the plan names but cannot hold (the binary, its shared-library closure, the
// database's secret file, secret ownership).
//
// Least privilege follows `uses`, by the rule that decides what the persona's context
// admits in dev (snap/reach.h): a persona's container receives exactly the secrets its
// context may read (a database it reaches gives it that database's password; a server it
// calls gives it nothing), joins one internal network per service it reaches (each
// daemon persona and each database among what it reaches), and waits for those services
// to be healthy before it starts.
//
// Thread safety: plan_deployment is a pure function; the emitter runs on the build's thread.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "snap/error.h"
#include "snap/lifecycle.h"
#include "snap/log.h"

namespace snap {

// The app as deployment sees it: each component's manifest entry. A manifest entry: id (dotted, escaped: Id::str()), type ("ApiServer", "Postgres"...),
// persona kind ("", "daemon", "job", "command"), config (JSON text), uses (ids) and the
// secret names it holds.
using DeployComponent = ComponentEntry;

struct DeployInput {
  std::string app_name;                     // the root id; names the binary /app/NAME
  std::vector<DeployComponent> components;  // manifest order, the app first
  // The previous build's DIR/state/deploy.json (null when there was none): which
  // volumes it had, so that the build can say which ones this build leaves orphaned.
  boost::json::value previous;
};

struct DeployOptions {
  // The generated Dockerfile's base image (`--base-image`); empty: a self-contained image
  // (FROM scratch + the binary + its shared-library closure + loader + users).
  std::string base_image;
  // The image every database service runs, unless $SNAP_POSTGRES_IMAGE says otherwise at
  // `up`. Any image with the official postgres image's contract (POSTGRES_PASSWORD_FILE,
  // POSTGRES_USER, POSTGRES_DB, PGDATA; pg_isready in PATH) works.
  std::string postgres_image = "postgres:15-bookworm";
  // Directories of the binary's shared libraries outside the loader's default ones
  // (/lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, ...): they go in LD_LIBRARY_PATH.
  std::vector<std::string> extra_library_dirs;
  // The emitter copies the binary without its debug sections (`objcopy --strip-debug`,
  // when binutils is installed; else as it is): a RelWithDebInfo binary shrinks from tens
  // of MB to a few. The ELF build id, which the log records, is kept.
  bool strip_debug = true;

  // docker-stack.yml (swarm) only. How a swarm service's name resolves: "dnsrr" (default),
  // to the address of each running replica, which the typed client spreads its calls
  // over; or "vip", to one virtual address that the kernel's IPVS balances. dnsrr is the
  // default because it needs nothing of the kernel: without IPVS (common in small VMs and
  // containers-in-containers) a VIP answers "No route to host". $SNAP_ENDPOINT_MODE
  // overrides it at `docker stack deploy`. Anything else is a DeployError.
  std::string endpoint_mode = "dnsrr";
  // docker-stack.yml only. Replicas per daemon persona's service (by service name, e.g.
  // "customer-server-api"); 1 when absent. The file still lets $SNAP_REPLICAS_<SERVICE>
  // (upper case, '-' -> '_') override it at `docker stack deploy`. A database always runs
  // one replica (its data is one volume); naming it, or a service that is not a daemon
  // persona, is a DeployError.
  std::map<std::string, unsigned> replicas;

  // Resource limits of every generated service, so that one runaway service (a leak, a
  // fork loop) cannot take the host: compose `mem_limit`/`pids_limit`, the stack's
  // `deploy.resources.limits`. The defaults leave room for an API server with a thread
  // per core and for PostgreSQL's process per connection. pids counts threads too.
  std::uint64_t memory_limit_bytes = std::uint64_t{1} << 30;  // 1 GiB
  std::uint64_t pids_limit = 1024;
  // Per service (by service name): replaces the limit above for that service. A name
  // that is no service of the app is a DeployError.
  std::map<std::string, std::uint64_t> memory_limits_bytes;
  std::map<std::string, std::uint64_t> pids_limits;

  // `build --publish`: API servers (by service name) reachable from outside the system,
  // each on a host port: compose maps it ($SNAP_PUBLISH_<SERVICE> overrides the port at
  // `up`), the stack publishes it. The server joins a network of its own, SERVICE-public,
  // where it listens (as public.SERVICE); no other service is on it, so what reaches what
  // inside the deployment does not change. A name that is not an API server is a
  // DeployError.
  std::map<std::string, unsigned> published;

  // `build --observability`: the deployment gains a Jaeger service (OTLP receiver, trace
  // store and UI) that every app service exports its spans to, and a Prometheus service
  // that scrapes every API server's /metrics over a network only the two of them share
  // (docs/observability.md, "Deployed"). Off: neither service, no OTLP variables.
  bool observability = false;
  // Their images, unless $SNAP_JAEGER_IMAGE / $SNAP_PROMETHEUS_IMAGE say otherwise at
  // `up`. Any image with the official ones' entrypoint works: Jaeger v2's binary (given
  // `--config FILE`), Prometheus' (given its flags).
  std::string jaeger_image = "jaegertracing/jaeger:2.12.0";
  std::string prometheus_image = "prom/prometheus:v2.42.0";

  // `build --record-requests`: which requests every API server records as episodes
  // (snap/episode.h, RecordingPolicy: "off", "errors", "all" or "N%"), each container's
  // still overridable by $SNAP_RECORD_REQUESTS_<SERVICE> at `up`. Each recording server
  // writes them to a volume of its own, SERVICE-episodes, and bin/episodes (bin/stack/
  // episodes on a swarm) lists them and fetches them to the host for `APP replay`. "off":
  // none of it. Anything else RecordingPolicy does not take is a DeployError.
  std::string record_requests = "errors";
};

struct DeployFile {
  std::string path;  // relative to DIR
  std::string content;
  bool executable = false;
};

// A secret file a service mounts, and the uid that must be able to read it.
struct DeploySecretFile {
  std::string service;
  std::string path;    // relative to DIR: runtime-secrets/<dir>/<name>
  std::string secret;  // the secret's name (the file name under /run/secrets)
  std::uint32_t uid = 0;
  // Set for a database's password: the build copies state/secrets/NAME here (personas'
  // files are written by the lifecycle).
  bool copy_from_state = false;
};

struct DeployPlan {
  std::vector<DeployFile> files;  // Dockerfile, docker-compose.yml, docker-stack.yml, .dockerignore, bin/*, image/etc/*, state/deploy.json
  std::vector<DeploySecretFile> secret_files;
  // Empty directories of the image's build context, relative to DIR (image/jobs/SERVICE,
  // copied into the image with a job's owner).
  std::vector<std::string> directories;
  // Where the binary goes (relative to DIR; the Dockerfile copies it to /app/).
  std::string binary;
  // Volumes the previous builds had and this one does not: they keep their data until
  // DIR/bin/remove-orphans is run. One line each, for the build's output.
  std::vector<std::string> orphaned_volumes;
  // Which services each service's container can reach (service -> targets): what the
  // networks allow, for tests and tools.
  std::vector<std::pair<std::string, std::vector<std::string>>> reaches;
};

// The app cannot be deployed as declared (a cycle in `uses`, two services with one name).
// A bug in the program's declaration: code internal, detail "deploy".
class DeployError : public Error {
 public:
  explicit DeployError(const std::string& message) : Error(ErrorCode::kInternal, "deploy", message) {}
};

// The deployment's view of a manifest: a started app's (App::manifest(), after startup)
// or a log's (LogReader::manifest(); one from before secret names were recorded needs
// them filled in first: snap::system_view does). DeployInput::previous is left null.
DeployInput deploy_input(const Manifest& manifest);

// Pure: the same input and options give byte-identical files. Throws DeployError.
DeployPlan plan_deployment(const DeployInput& input, const DeployOptions& options);

// The same app on a Kubernetes cluster (docs/deploy.md, "From compose to Kubernetes"):
// kubernetes/*.yaml (with a kustomization), kubernetes/commands/NAME.yaml, bin/kube/apply
// and bin/kube/NAME per command. Pure, like plan_deployment: the same input and options
// give byte-identical files. Throws DeployError.
std::vector<DeployFile> plan_kubernetes(const DeployInput& input, const DeployOptions& options);

// The build emitter snap::run installs: plans from the finished build and writes the
// plan into the build's staging directory, with the running binary and its shared
// libraries (read from this process: the build is the program itself). As root it
// gives each service's secret files to that service's uid (mode 0600); otherwise it
// makes them readable (0444) inside their 0700 directory: a container sees only its own
// secrets either way. `defaults` supplies what BuildOptions does not carry.
BuildEmitter deployment_emitter(DeployOptions defaults = {});

}  // namespace snap
