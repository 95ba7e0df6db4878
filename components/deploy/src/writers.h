// The writers: each generated file from the service graph (service_graph.h). They only
// read the graph, so the same graph always gives the same bytes. Private to snap::deploy.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service_graph.h"

namespace snap::deploy_plan {

// image.cc: the image's build context.
std::string dockerfile(const ServiceGraph& g);
std::string dockerignore(const ServiceGraph& g);
std::string passwd(const ServiceGraph& g);
std::string group(const ServiceGraph& g);

// compose.cc and stack.cc: one host's compose file and its swarm twin.
std::string compose(const ServiceGraph& g);
std::string stack(const ServiceGraph& g);

// scripts.cc: bin/NAME (a command, or a job run again, under compose), bin/stack/NAME
// (a command on a swarm), bin/episodes and bin/stack/episodes (the recorded requests),
// and state/deploy.json with bin/remove-orphans.
std::string command_script(const ServiceGraph& g, const Service& s);
std::string stack_command_script(const ServiceGraph& g, const Service& s);
std::string episodes_script(const ServiceGraph& g);
std::string stack_episodes_script(const ServiceGraph& g);
void add_volume_state(const ServiceGraph& g, DeployPlan& plan);

// observability.cc: what `--observability` adds (nothing when it is off).
// The variables an app service is given so that it exports to Jaeger (and a server,
// where it serves /metrics).
std::vector<std::pair<std::string, std::string>> observability_environment(const ServiceGraph& g, const Service& s);
std::string jaeger_config(const ServiceGraph& g);
std::string prometheus_config(const ServiceGraph& g);
// observability/*, and Jaeger and Prometheus in the plan's reaches.
void add_observability_files(const ServiceGraph& g, DeployPlan& plan);
// The two services, their networks, volume and (swarm) configs, in each file's form.
void compose_observability_services(std::ostream& out, const ServiceGraph& g);
void stack_observability_services(std::ostream& out, const ServiceGraph& g);
void compose_observability_networks(std::ostream& out, const ServiceGraph& g);
void stack_observability_networks(std::ostream& out, const ServiceGraph& g);
void write_observability_volumes(std::ostream& out, const ServiceGraph& g);
void stack_observability_configs(std::ostream& out, const ServiceGraph& g);

// What the compose and stack files share (compose.cc).
// A secret's key in the compose file's top-level `secrets:`.
std::string secret_key(const DeploySecretFile& f);
// A swarm secret's name is STACK_KEY and at most 64 characters: keys longer than 40
// keep their first 31 characters and a hash of the whole, leaving room for the stack.
std::string stack_secret_key(const DeploySecretFile& f);
// A service's `networks:` (see compose.cc).
void write_networks(std::ostream& out, const ServiceGraph& g, const Service& s, const std::vector<std::string>& networks);
void write_healthcheck(std::ostream& out, const std::vector<std::string>& test);
// What an app service is told beyond its persona: observability_environment, and a
// published server's SNAP_PUBLIC_HOST.
std::vector<std::pair<std::string, std::string>> service_environment(const ServiceGraph& g, const Service& s);
// "${PREFIX_SERVICE" (the service's name upper-cased, '-' as '_'; without the default and
// the closing brace): a per-service deploy-time variable, SNAP_REPLICAS_... or SNAP_PUBLISH_....
std::string service_variable(std::string_view prefix, const Service& s);
// A recording server's variables (none for any other service), as YAML scalars that use
// compose interpolation: $SNAP_RECORD_REQUESTS (the build's policy unless
// $SNAP_RECORD_REQUESTS_<SERVICE> says otherwise at deploy), $SNAP_EPISODES (its volume) and
// $SNAP_EPISODES_MAX_BYTES (the bound on them, $SNAP_EPISODES_MAX_BYTES_<SERVICE> likewise).
std::vector<std::pair<std::string, std::string>> episodes_environment(const ServiceGraph& g, const Service& s);
// An API server's $SNAP_VERSION_SKEW (docs/api.md, "Version skew"), as a YAML scalar like
// those above: `policy` unless $SNAP_VERSION_SKEW_<SERVICE> says otherwise at deploy; none
// for any other service. Swarm stacks pass strict: a rolling update serves from replicas
// of both builds, so a refused call finds one of its own. Compose passes warn: `up -d`
// replaces a service's one container, so no replica of the caller's build is left to
// retry on, and refusing would only fail the calls an upgrade makes meanwhile.
std::vector<std::pair<std::string, std::string>> version_skew_environment(const Service& s, std::string_view policy);
// `environment:` with each variable (nothing when there are none): `scalars` as they are
// (already YAML scalars, interpolated at deploy), then `variables` quoted.
void write_environment(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& variables,
                       const std::vector<std::pair<std::string, std::string>>& scalars = {});
// The top-level volumes (one per database and per recording server; with job_volumes one
// per job too) and secrets (one per file, named by `key`).
void write_volumes_and_secrets(std::ostream& out, const ServiceGraph& g, std::string (*key)(const DeploySecretFile&),
                               bool job_volumes);

}  // namespace snap::deploy_plan
