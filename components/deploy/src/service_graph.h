// The service graph: which components of the app become services (daemon, job and command
// personas, databases), what each one reaches, the networks that follow from that, each
// service's uid and the secret files it mounts. Built and checked once by
// build_service_graph(); every writer (compose.cc, stack.cc, image.cc, scripts.cc) only
// reads it. Private to snap::deploy.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "snap/deploy.h"
#include "snap/id.h"

namespace snap::deploy_plan {

enum class ServiceKind { kDaemon, kJob, kCommand, kDatabase };

struct Service {
  std::string name;  // Id::service_name(): compose service and host name
  const DeployComponent* component = nullptr;
  Id id = Id::root("x");
  ServiceKind kind = ServiceKind::kDaemon;
  std::uint32_t uid = 0;
  std::vector<std::string> targets;   // services it reaches (daemons and databases), sorted
  std::set<std::string> secrets;      // secret names it mounts
  std::vector<std::string> networks;  // sorted
  boost::json::object config;
  // `--observability`, an API server: the network only it and Prometheus share
  // (NAME-metrics), where its address is `metrics.NAME` and it serves /metrics.
  std::string metrics_network;
  // `--publish`, an API server: the network only it is on (NAME-public, not internal),
  // where its address is `public.NAME`, and the host port it is published on.
  std::string public_network;
  unsigned published_port = 0;
  // An API server, unless requests are not recorded (`--record-requests off`): it records
  // them as episodes into its own volume (episodes_volume/episodes_path below).
  bool records_requests = false;
};

struct ServiceGraph {
  const DeployInput& input;
  const DeployOptions& options;
  std::string app_file;           // the binary's file name (file_name_for(app_name))
  std::vector<Service> services;  // manifest order
  std::map<std::string, std::size_t> service_of;  // component id -> index in services
  std::set<std::string> reached;  // services something reaches: each has a network of its name
  // `--observability`: `telemetry` (every app service and Jaeger) and each API server's
  // metrics network. Internal, like the networks of `reached`.
  std::set<std::string> telemetry_networks;
  std::vector<DeploySecretFile> secret_files;
  // The recording policy every recording service runs with unless its container is told
  // otherwise (RecordingPolicy::str() of the options' record_requests).
  std::string record_policy;
  bool any_recording = false;  // some service records requests: bin/episodes is written
};

// Throws DeployError for an app that cannot be deployed as declared (two services with
// one name, a cycle in `uses`) or options that do not fit it (replicas or limits for no
// service, an endpoint mode that is neither dnsrr nor vip, limits Docker refuses).
ServiceGraph build_service_graph(const DeployInput& input, const DeployOptions& options);

// `options` with the ports the program publishes (ApiServer::publish, the "publish" of an
// API server's config) added by service name, below what `--publish` gives: the flag
// overrides the program for the same server.
DeployOptions with_published_in_code(const DeployInput& input, DeployOptions options);

// A string field of the service's config; a DeployError when it has none.
std::string string_config(const Service& s, std::string_view key);
// The limits a service runs under: its own from the options, else every service's.
std::uint64_t memory_limit(const ServiceGraph& g, const Service& s);
std::uint64_t pids_limit(const ServiceGraph& g, const Service& s);
// The secret files a service mounts.
std::vector<const DeploySecretFile*> secrets_of(const ServiceGraph& g, const Service& s);
// A service's networks on a swarm, which has no network_mode "none": one that reaches
// nothing and that nothing reaches gets a network of its own, NAME-alone.
std::vector<std::string> stack_networks(const Service& s);

// `--observability`: the services and networks it adds (observability.cc writes them).
inline constexpr std::string_view kJaegerService = "jaeger";
inline constexpr std::string_view kPrometheusService = "prometheus";
inline constexpr std::string_view kTelemetryNetwork = "telemetry";
// Where an app service sends its spans: Jaeger's OTLP/HTTP receiver on `telemetry`.
inline constexpr std::string_view kOtlpEndpoint = "http://jaeger:4318";
// A scraped server's address on its metrics network (SNAP_METRICS_HOST tells the server).
inline std::string metrics_alias(const Service& s) { return "metrics." + s.name; }
// Its port: the one its config records.
std::int64_t server_port(const Service& s);

// A published server's address on its public network (SNAP_PUBLIC_HOST tells the server).
inline std::string public_alias(const Service& s) { return "public." + s.name; }

// A database's volume.
inline std::string volume_of(const Service& s) { return s.name + "-data"; }
// A job's record of its runs (compose): its volume, where it is mounted, and the empty
// directory of the build context the Dockerfile copies there with the job's owner.
inline std::string job_runs_volume(const Service& s) { return s.name + "-runs"; }
inline std::string job_runs_path(const Service& s) { return "/var/lib/snap/jobs/" + s.name; }
inline std::string job_runs_context(const Service& s) { return "image/jobs/" + s.name; }
// A recording API server's episodes, the same way: its volume, where it is mounted (its
// $SNAP_EPISODES) and the build context's empty directory that gives a new volume its owner.
inline std::string episodes_volume(const Service& s) { return s.name + "-episodes"; }
inline std::string episodes_path(const Service& s) { return "/var/lib/snap/episodes/" + s.name; }
inline std::string episodes_context(const Service& s) { return "image/episodes/" + s.name; }
// The script that lists and fetches them (bin/episodes; bin/stack/episodes on a swarm).
inline constexpr std::string_view kEpisodesScript = "episodes";

}  // namespace snap::deploy_plan
