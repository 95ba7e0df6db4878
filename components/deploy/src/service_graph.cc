// build_service_graph: which services the app runs as, what each reaches, and their
// networks, uids and secret files. Every collection is walked in a fixed order (manifest
// order, or sorted), so the same input gives the same graph.
#include "service_graph.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include <boost/json.hpp>

#include "snap/component_type.h"
#include "snap/episode.h"
#include "snap/reach.h"
#include "text.h"

namespace snap::deploy_plan {

namespace {

// Databases run as the official postgres image's `postgres` user, which owns its data.
constexpr std::uint32_t kDatabaseUid = 999;
// App services get a uid each in [20000, 60000): above distribution-assigned ids, below
// the 65534 `nobody`, and stable while the service keeps its name.
constexpr std::uint32_t kFirstServiceUid = 20000;
constexpr std::uint32_t kServiceUidRange = 40000;
// Docker refuses a container memory limit under 6 MiB.
constexpr std::uint64_t kMinimumMemoryLimit = std::uint64_t{6} << 20;

void find_services(ServiceGraph& g) {
  std::map<std::string, std::string> names;  // service name -> id
  for (const DeployComponent& c : g.input.components) {
    Service s;
    if (c.persona == "daemon") {
      s.kind = ServiceKind::kDaemon;
    } else if (c.persona == "job") {
      s.kind = ServiceKind::kJob;
    } else if (c.persona == "command") {
      s.kind = ServiceKind::kCommand;
    } else if (component_type_of(c.type) == ComponentType::kPostgres) {
      s.kind = ServiceKind::kDatabase;
    } else {
      continue;
    }
    s.component = &c;
    s.id = Id::parse(c.id);
    s.name = s.id.service_name();
    boost::system::error_code ec;
    auto config = boost::json::parse(c.config, ec);
    if (!ec && config.is_object()) s.config = config.as_object();
    auto [it, fresh] = names.emplace(s.name, c.id);
    if (!fresh) {
      throw DeployError("deploy: " + it->second + " and " + c.id + " would both be the service \"" + s.name +
                        "\"; rename one");
    }
    g.service_of[c.id] = g.services.size();
    g.services.push_back(std::move(s));
  }
}

// What each persona's service reaches and mounts is what its context admits in dev: the
// persona's reach (snap/reach.h). A store declared inside another persona's subtree is
// reached like any other, so its user gets the store's database. The services it reaches
// are the daemons and databases among what it reaches (a job or a command is never
// called); its secrets are the ones it receives, and the build wrote exactly those for it
// (App::secrets_for is the same rule).
void trace_reach(ServiceGraph& g) {
  for (const PersonaReach& reach : persona_reach(Manifest{g.input.components})) {
    const auto self = g.service_of.find(reach.persona);
    if (self == g.service_of.end()) continue;  // a persona kind deployment does not run
    Service& s = g.services[self->second];
    s.secrets.insert(reach.secrets.begin(), reach.secrets.end());
    std::set<std::string> targets;
    for (const std::string& id : reach.components) {
      const auto it = g.service_of.find(id);
      if (it == g.service_of.end()) continue;
      const Service& target = g.services[it->second];
      if (target.kind == ServiceKind::kDaemon || target.kind == ServiceKind::kDatabase) targets.insert(target.name);
    }
    s.targets.assign(targets.begin(), targets.end());
  }
}

const Service* find_named(const ServiceGraph& g, const std::string& name) {
  for (const Service& s : g.services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// Start order follows `uses`; a cycle has no start order.
void check_cycles(const ServiceGraph& g) {
  std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<void(const Service&)> visit = [&](const Service& s) {
    state[s.name] = 1;
    path.push_back(s.name);
    for (const std::string& t : s.targets) {
      if (state[t] == 1) {
        std::string cycle;
        for (auto it = std::find(path.begin(), path.end(), t); it != path.end(); ++it) cycle += *it + " -> ";
        throw DeployError("deploy: services use each other in a cycle, so none can start first: " + cycle + t +
                          " (remove one of these uses)");
      }
      if (state[t] == 0) {
        const Service* target = find_named(g, t);
        if (target == nullptr) throw std::logic_error("deploy: no service " + t);
        visit(*target);
      }
    }
    path.pop_back();
    state[s.name] = 2;
  };
  for (const Service& s : g.services) {
    if (state[s.name] == 0) visit(s);
  }
}

void check_swarm_options(const ServiceGraph& g) {
  const DeployOptions& options = g.options;
  if (options.endpoint_mode != "dnsrr" && options.endpoint_mode != "vip") {
    throw DeployError("deploy: endpoint mode \"" + options.endpoint_mode + "\" is neither \"dnsrr\" nor \"vip\"");
  }
  for (const auto& [name, count] : options.replicas) {
    const Service* found = find_named(g, name);
    if (found == nullptr) throw DeployError("deploy: replicas for \"" + name + "\", which is no service of this app");
    if (found->kind == ServiceKind::kDatabase) {
      throw DeployError("deploy: the database " + found->component->id +
                        " runs one replica (its data is one volume); it cannot be given " + std::to_string(count));
    }
    if (found->kind != ServiceKind::kDaemon) {
      throw DeployError("deploy: replicas for " + found->component->id + ", which is a " + found->component->persona +
                        " persona: only daemon personas scale");
    }
  }
}

void check_limits(const ServiceGraph& g) {
  const DeployOptions& options = g.options;
  auto check_memory = [](const std::string& what, std::uint64_t bytes) {
    if (bytes < kMinimumMemoryLimit) {
      throw DeployError("deploy: the memory limit " + what + " (" + std::to_string(bytes) +
                        " bytes) is below Docker's minimum of 6 MiB");
    }
  };
  auto check_pids = [](const std::string& what, std::uint64_t pids) {
    if (pids == 0) throw DeployError("deploy: the pids limit " + what + " is 0: no process could start");
  };
  check_memory("of every service", options.memory_limit_bytes);
  check_pids("of every service", options.pids_limit);
  auto check_service = [&](const char* kind, const std::string& name) {
    if (find_named(g, name) != nullptr) return;
    throw DeployError(std::string("deploy: a ") + kind + " limit for \"" + name + "\", which is no service of this app");
  };
  for (const auto& [name, bytes] : options.memory_limits_bytes) {
    check_service("memory", name);
    check_memory("of " + name, bytes);
  }
  for (const auto& [name, pids] : options.pids_limits) {
    check_service("pids", name);
    check_pids("of " + name, pids);
  }
}

void assign_uids(ServiceGraph& g) {
  std::vector<Service*> sorted;
  for (Service& s : g.services) sorted.push_back(&s);
  std::sort(sorted.begin(), sorted.end(), [](const Service* a, const Service* b) { return a->name < b->name; });
  std::set<std::uint32_t> taken;
  for (Service* s : sorted) {
    if (s->kind == ServiceKind::kDatabase) {
      s->uid = kDatabaseUid;
      continue;
    }
    std::uint32_t slot = fnv1a(s->name) % kServiceUidRange;
    while (taken.count(kFirstServiceUid + slot)) slot = (slot + 1) % kServiceUidRange;
    s->uid = kFirstServiceUid + slot;
    taken.insert(s->uid);
  }
}

// One internal network per service that something reaches: it and its clients join it.
void assign_networks(ServiceGraph& g) {
  for (Service& s : g.services) {
    for (const std::string& t : s.targets) {
      s.networks.push_back(t);
      g.reached.insert(t);
    }
  }
  for (Service& s : g.services) {
    if (g.reached.count(s.name)) s.networks.push_back(s.name);
    if (g.options.observability && s.kind != ServiceKind::kDatabase) {
      // Every app service sends its spans to Jaeger; on this network only Jaeger listens
      // (a server listens on its own network's address and loopback only).
      s.networks.emplace_back(kTelemetryNetwork);
      g.telemetry_networks.emplace(kTelemetryNetwork);
      if (s.kind == ServiceKind::kDaemon && component_type_of(s.component->type) == ComponentType::kApiServer) {
        // One network per server, so that servers cannot reach each other's metrics address.
        s.metrics_network = s.name + "-metrics";
        s.networks.push_back(s.metrics_network);
        g.telemetry_networks.insert(s.metrics_network);
      }
    }
    if (const auto it = g.options.published.find(s.name); it != g.options.published.end()) {
      s.public_network = s.name + "-public";
      s.published_port = it->second;
      s.networks.push_back(s.public_network);
    }
    std::sort(s.networks.begin(), s.networks.end());
  }
}

// Only an API server can be published: it is what listens for requests.
void check_published(const ServiceGraph& g) {
  for (const auto& [name, port] : g.options.published) {
    const Service* found = find_named(g, name);
    if (found == nullptr) throw DeployError("deploy: --publish for \"" + name + "\", which is no service of this app");
    if (found->kind != ServiceKind::kDaemon || component_type_of(found->component->type) != ComponentType::kApiServer) {
      throw DeployError("deploy: --publish for " + found->component->id + ", which is a " + found->component->type +
                        ", not an ApiServer: only an API server listens for requests");
    }
    if (port == 0 || port > 65535) {
      throw DeployError("deploy: --publish " + name + "=" + std::to_string(port) + ": a port is from 1 to 65535");
    }
  }
}

// The observability services' names and networks must not be taken by the app's.
void check_observability_names(const ServiceGraph& g) {
  if (!g.options.observability) return;
  for (const Service& s : g.services) {
    for (std::string_view taken :
         {kJaegerService, kPrometheusService, kTelemetryNetwork, std::string_view("jaeger-ui"), std::string_view("prometheus-ui")}) {
      if (s.name == taken) {
        throw DeployError("deploy: " + s.component->id + " would be the service \"" + s.name +
                          "\", which --observability adds itself; rename it");
      }
    }
    if (s.name.size() > 8 && s.name.compare(s.name.size() - 8, 8, "-metrics") == 0) {
      throw DeployError("deploy: " + s.component->id + " would be the service \"" + s.name +
                        "\", a name --observability gives a metrics network; rename it");
    }
  }
}

void assign_secret_files(ServiceGraph& g) {
  for (const Service& s : g.services) {
    const std::string dir = "runtime-secrets/" + s.id.safe_name() + "/";
    if (s.kind == ServiceKind::kDatabase) {
      const std::string secret = string_config(s, "password_secret");
      g.secret_files.push_back({s.name, dir + secret, secret, s.uid, true});
      continue;
    }
    for (const std::string& secret : s.secrets) g.secret_files.push_back({s.name, dir + secret, secret, s.uid, false});
  }
}

// `--record-requests`: every API server records its requests unless the policy is off. A
// job or command service named like the script that fetches them would be overwritten by it.
void assign_recording(ServiceGraph& g) {
  RecordingPolicy policy;
  try {
    policy = RecordingPolicy::parse(g.options.record_requests);
  } catch (const std::invalid_argument& e) {
    throw DeployError(std::string("deploy: --record-requests: ") + e.what());
  }
  g.record_policy = policy.str();
  if (policy.off()) return;
  for (Service& s : g.services) {
    if (s.kind == ServiceKind::kDaemon && component_type_of(s.component->type) == ComponentType::kApiServer) {
      s.records_requests = g.any_recording = true;
    }
  }
  if (!g.any_recording) return;
  for (const Service& s : g.services) {
    if ((s.kind == ServiceKind::kJob || s.kind == ServiceKind::kCommand) && s.name == kEpisodesScript) {
      throw DeployError("deploy: " + s.component->id + " would be the script bin/" + s.name +
                        ", which lists and fetches the recorded requests; rename it, or build with --record-requests off");
    }
  }
}

}  // namespace

DeployOptions with_published_in_code(const DeployInput& input, DeployOptions options) {
  for (const DeployComponent& c : input.components) {
    if (component_type_of(c.type) != ComponentType::kApiServer) continue;
    boost::system::error_code ec;
    const boost::json::value config = boost::json::parse(c.config, ec);
    const boost::json::value* port = !ec && config.is_object() ? config.as_object().if_contains("publish") : nullptr;
    if (port == nullptr) continue;
    const auto number = port->is_int64() ? port->as_int64() : port->is_uint64() ? static_cast<std::int64_t>(port->as_uint64()) : -1;
    if (number < 1 || number > 65535) {
      throw DeployError("deploy: " + c.id + " publishes " + boost::json::serialize(*port) + ": a port is from 1 to 65535");
    }
    options.published.emplace(Id::parse(c.id).service_name(), static_cast<unsigned>(number));
  }
  return options;
}

ServiceGraph build_service_graph(const DeployInput& input, const DeployOptions& options) {
  ServiceGraph g{input, options, file_name_for(input.app_name), {}, {}, {}, {}, {}, {}, false};
  find_services(g);
  trace_reach(g);
  check_cycles(g);
  check_swarm_options(g);
  check_limits(g);
  assign_uids(g);
  check_observability_names(g);
  check_published(g);
  assign_networks(g);
  assign_secret_files(g);
  assign_recording(g);
  return g;
}

std::string string_config(const Service& s, std::string_view key) {
  if (const auto* v = s.config.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  throw DeployError("deploy: " + s.component->id + " (" + s.component->type + ") has no \"" + std::string(key) +
                    "\" in its config");
}

std::int64_t server_port(const Service& s) {
  if (const auto* v = s.config.if_contains("port"); v && (v->is_int64() || v->is_uint64())) {
    return v->to_number<std::int64_t>();
  }
  throw DeployError("deploy: " + s.component->id + " (" + s.component->type + ") has no \"port\" in its config");
}

std::uint64_t memory_limit(const ServiceGraph& g, const Service& s) {
  const auto it = g.options.memory_limits_bytes.find(s.name);
  return it == g.options.memory_limits_bytes.end() ? g.options.memory_limit_bytes : it->second;
}

std::uint64_t pids_limit(const ServiceGraph& g, const Service& s) {
  const auto it = g.options.pids_limits.find(s.name);
  return it == g.options.pids_limits.end() ? g.options.pids_limit : it->second;
}

std::vector<const DeploySecretFile*> secrets_of(const ServiceGraph& g, const Service& s) {
  std::vector<const DeploySecretFile*> out;
  for (const DeploySecretFile& f : g.secret_files) {
    if (f.service == s.name) out.push_back(&f);
  }
  return out;
}

std::vector<std::string> stack_networks(const Service& s) {
  if (s.networks.empty()) return {s.name + "-alone"};
  return s.networks;
}

}  // namespace snap::deploy_plan
