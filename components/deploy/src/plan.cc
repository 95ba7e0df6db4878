// plan_deployment: the app's description -> the generated files. A pure function: no
// I/O, no clock, no environment; every collection is walked in a fixed order (manifest
// order, or sorted), so the same input gives byte-identical files.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <boost/json.hpp>

#include "snap/deploy.h"
#include "snap/id.h"
#include "snap/reach.h"

namespace snap {

namespace {

constexpr std::string_view kHeader =
    "# Written by `{app} build` (snapshot). Do not edit: the next build rewrites it.\n"
    "# What each part is for: docs/deploy.md.\n";

// Databases run as the official postgres image's `postgres` user, which owns its data.
constexpr std::uint32_t kDatabaseUid = 999;
// App services get a uid each in [20000, 60000): above distribution-assigned ids, below
// the 65534 `nobody`, and stable while the service keeps its name.
constexpr std::uint32_t kFirstServiceUid = 20000;
constexpr std::uint32_t kServiceUidRange = 40000;
// Docker refuses a container memory limit under 6 MiB.
constexpr std::uint64_t kMinimumMemoryLimit = std::uint64_t{6} << 20;

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string header(const std::string& app) { return replace_all(std::string(kHeader), "{app}", app); }

// A YAML double-quoted scalar (the JSON subset), with compose's `$` interpolation
// escaped: nothing taken from the app is ever substituted by compose.
std::string quote(std::string_view text) {
  return replace_all(boost::json::serialize(boost::json::string(text)), "$", "$$");
}
// A scalar that deliberately uses compose interpolation (`${VAR:-default}`).
std::string quote_interpolated(std::string_view variable, std::string_view fallback) {
  return "\"${" + std::string(variable) + ":-" + replace_all(std::string(fallback), "$", "$$") + "}\"";
}
std::string flow_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + quote(items[i]);
  return out + "]";
}
// A memory size as compose and stack files take it: the largest unit that divides it.
std::string size_text(std::uint64_t bytes) {
  for (const auto& [shift, unit] : {std::pair{30, "g"}, std::pair{20, "m"}, std::pair{10, "k"}}) {
    if (bytes % (std::uint64_t{1} << shift) == 0) return std::to_string(bytes >> shift) + unit;
  }
  return std::to_string(bytes);
}
// A word for sh, single-quoted.
std::string shell_quote(std::string_view text) { return "'" + replace_all(std::string(text), "'", "'\\''") + "'"; }

std::uint32_t fnv1a(std::string_view text) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return h;
}

// The manifest's dotted id back into an Id, for its names.
Id parse_id(const std::string& dotted) {
  std::vector<std::string> segments(1);
  for (std::size_t i = 0; i < dotted.size(); ++i) {
    if (dotted[i] == '.') {
      segments.emplace_back();
    } else if (dotted[i] == '%' && dotted.compare(i, 3, "%2E") == 0) {
      segments.back() += '.';
      i += 2;
    } else if (dotted[i] == '%' && dotted.compare(i, 3, "%25") == 0) {
      segments.back() += '%';
      i += 2;
    } else {
      segments.back() += dotted[i];
    }
  }
  Id id = Id::root(segments.front());
  for (std::size_t i = 1; i < segments.size(); ++i) id = id.child(segments[i]);
  return id;
}

// A file name for the binary: the app's name with only [A-Za-z0-9._-].
std::string file_name_for(std::string_view name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (out.empty() || out == "." || out == "..") out = "app";
  return out;
}
// A compose key for a secret: [A-Za-z0-9._-].
std::string key_for(std::string_view text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out;
}

enum class ServiceKind { kDaemon, kJob, kCommand, kDatabase };

struct Service {
  std::string name;  // Id::service_name(): compose service and host name
  const DeployComponent* component = nullptr;
  Id id = Id::root("x");
  ServiceKind kind = ServiceKind::kDaemon;
  std::uint32_t uid = 0;
  std::vector<std::string> targets;  // services it reaches (daemons and databases), sorted
  std::set<std::string> secrets;     // secret names it mounts
  std::vector<std::string> networks;  // sorted
  boost::json::object config;
};

class Planner {
 public:
  Planner(const DeployInput& input, const DeployOptions& options) : input_(input), options_(options) {}

  DeployPlan plan() {
    index();
    find_services();
    trace_reach();
    check_cycles();
    check_swarm_options();
    check_limits();
    assign_uids();
    assign_networks();
    DeployPlan plan;
    plan.secret_files = secret_files();
    plan.binary = "app/" + app_file_;
    plan.files.push_back({"Dockerfile", dockerfile()});
    plan.files.push_back({".dockerignore", dockerignore()});
    plan.files.push_back({"docker-compose.yml", compose(plan.secret_files)});
    plan.files.push_back({"docker-stack.yml", stack(plan.secret_files)});
    plan.files.push_back({"image/etc/passwd", passwd()});
    plan.files.push_back({"image/etc/group", group()});
    plan.files.push_back({"image/etc/nsswitch.conf", "hosts: files dns\n"});
    for (const Service& s : services_) {
      if (s.kind == ServiceKind::kJob) {
        plan.files.push_back({"bin/" + s.name, command_script(s), true});
        plan.directories.push_back(job_runs_context(s));
      }
      if (s.kind != ServiceKind::kCommand) continue;
      plan.files.push_back({"bin/" + s.name, command_script(s), true});
      plan.files.push_back({"bin/stack/" + s.name, stack_command_script(s, plan.secret_files), true});
    }
    orphans(plan);
    for (const Service& s : services_) plan.reaches.emplace_back(s.name, s.targets);
    return plan;
  }

 private:
  void index() {
    app_file_ = file_name_for(input_.app_name);
  }

  void find_services() {
    std::map<std::string, std::string> names;  // service name -> id
    for (const DeployComponent& c : input_.components) {
      Service s;
      if (c.persona == "daemon") {
        s.kind = ServiceKind::kDaemon;
      } else if (c.persona == "job") {
        s.kind = ServiceKind::kJob;
      } else if (c.persona == "command") {
        s.kind = ServiceKind::kCommand;
      } else if (c.type == "Postgres") {
        s.kind = ServiceKind::kDatabase;
      } else {
        continue;
      }
      s.component = &c;
      s.id = parse_id(c.id);
      s.name = s.id.service_name();
      boost::system::error_code ec;
      auto config = boost::json::parse(c.config, ec);
      if (!ec && config.is_object()) s.config = config.as_object();
      auto [it, fresh] = names.emplace(s.name, c.id);
      if (!fresh) {
        throw DeployError("deploy: " + it->second + " and " + c.id + " would both be the service \"" + s.name +
                          "\"; rename one");
      }
      service_of_[c.id] = services_.size();
      services_.push_back(std::move(s));
    }
  }

  // What each persona's service reaches and mounts is what its context admits in dev: the
  // persona's reach (snap/reach.h). A store declared inside another persona's subtree is
  // reached like any other, so its user gets the store's database. The services it reaches
  // are the daemons and databases among what it reaches (a job or a command is never
  // called); its secrets are the ones it receives, and the build wrote exactly those for it
  // (App::secrets_for is the same rule).
  void trace_reach() {
    Manifest manifest;
    SecretsByComponent secrets;
    for (const DeployComponent& c : input_.components) {
      manifest.components.push_back({c.id, c.type, c.persona, c.config, c.uses});
      if (!c.secrets.empty()) secrets.emplace(c.id, c.secrets);
    }
    for (const PersonaReach& reach : persona_reach(manifest, secrets)) {
      const auto self = service_of_.find(reach.persona);
      if (self == service_of_.end()) continue;  // a persona kind deployment does not run
      Service& s = services_[self->second];
      s.secrets.insert(reach.secrets.begin(), reach.secrets.end());
      std::set<std::string> targets;
      for (const std::string& id : reach.components) {
        const auto it = service_of_.find(id);
        if (it == service_of_.end()) continue;
        const Service& target = services_[it->second];
        if (target.kind == ServiceKind::kDaemon || target.kind == ServiceKind::kDatabase) targets.insert(target.name);
      }
      s.targets.assign(targets.begin(), targets.end());
    }
  }

  const Service& named(const std::string& name) const {
    for (const Service& s : services_) {
      if (s.name == name) return s;
    }
    throw std::logic_error("deploy: no service " + name);
  }

  // Start order follows `uses`; a cycle has no start order.
  void check_cycles() const {
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
        if (state[t] == 0) visit(named(t));
      }
      path.pop_back();
      state[s.name] = 2;
    };
    for (const Service& s : services_) {
      if (state[s.name] == 0) visit(s);
    }
  }

  void assign_uids() {
    std::vector<Service*> sorted;
    for (Service& s : services_) sorted.push_back(&s);
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
  void assign_networks() {
    for (Service& s : services_) {
      for (const std::string& t : s.targets) {
        s.networks.push_back(t);
        reached_.insert(t);
      }
    }
    for (Service& s : services_) {
      if (reached_.count(s.name)) s.networks.push_back(s.name);
      std::sort(s.networks.begin(), s.networks.end());
    }
  }

  // The secret files a service mounts.
  static std::vector<const DeploySecretFile*> secrets_of(const Service& s,
                                                         const std::vector<DeploySecretFile>& secret_files) {
    std::vector<const DeploySecretFile*> out;
    for (const DeploySecretFile& f : secret_files) {
      if (f.service == s.name) out.push_back(&f);
    }
    return out;
  }

  // A service's networks on a swarm, which has no network_mode "none": one that reaches
  // nothing and that nothing reaches gets a network of its own, NAME-alone.
  static std::vector<std::string> stack_networks(const Service& s) {
    if (s.networks.empty()) return {s.name + "-alone"};
    return s.networks;
  }

  // A service's `networks:`. On the network named after it, the service's address there
  // is also `listen.NAME` (Id::listen_name()): a server listens on that address only
  // (and loopback), so a service it shares another network with (its own database)
  // cannot connect to it.
  void networks_of(std::ostream& out, const Service& s, const std::vector<std::string>& networks) const {
    if (!reached_.count(s.name)) {
      out << "    networks: " << flow_list(networks) << "\n";
      return;
    }
    out << "    networks:\n";
    for (const std::string& n : networks) {
      out << "      " << n << ": ";
      if (n == s.name) {
        out << "{aliases: " << flow_list({s.id.listen_name()}) << "}\n";
      } else {
        out << "{}\n";
      }
    }
  }

  std::vector<DeploySecretFile> secret_files() const {
    std::vector<DeploySecretFile> out;
    for (const Service& s : services_) {
      const std::string dir = "runtime-secrets/" + s.id.safe_name() + "/";
      if (s.kind == ServiceKind::kDatabase) {
        const std::string secret = string_config(s, "password_secret");
        out.push_back({s.name, dir + secret, secret, s.uid, true});
        continue;
      }
      for (const std::string& secret : s.secrets) out.push_back({s.name, dir + secret, secret, s.uid, false});
    }
    return out;
  }

  static std::string string_config(const Service& s, std::string_view key) {
    if (const auto* v = s.config.if_contains(key); v && v->is_string()) return std::string(v->as_string());
    throw DeployError("deploy: " + s.component->id + " (" + s.component->type + ") has no \"" + std::string(key) +
                      "\" in its config");
  }

  std::string dockerfile() const {
    std::ostringstream out;
    out << header(input_.app_name);
    if (options_.base_image.empty()) {
      out << "# Self-contained: no base image, nothing to pull. image/rootfs holds the program's\n"
             "# shared libraries and loader at the paths they are loaded from; image/etc its users.\n"
             "FROM scratch\n"
             "COPY image/rootfs/ /\n"
             "COPY image/etc/ /etc/\n";
      if (!options_.extra_library_dirs.empty()) {
        std::string dirs;
        for (const std::string& d : options_.extra_library_dirs) dirs += (dirs.empty() ? "" : ":") + d;
        out << "ENV LD_LIBRARY_PATH=" << dirs << "\n";
      }
    } else {
      out << "# On the base image chosen at build. The program's libraries beyond the C library come\n"
             "# along in /app/lib; the base's C library must be at least as new as the build machine's.\n"
             "FROM "
          << options_.base_image
          << "\n"
             "COPY image/lib/ /app/lib/\n"
             "ENV LD_LIBRARY_PATH=/app/lib\n";
    }
    bool any_job = false;
    for (const Service& s : services_) {
      if (s.kind != ServiceKind::kJob) continue;
      if (!any_job) {
        out << "# Each job's record of its runs, owned by the job's user: a new volume mounted there\n"
               "# takes that owner (docker-compose.yml).\n";
      }
      any_job = true;
      out << "COPY --chown=" << s.uid << ":" << s.uid << " " << job_runs_context(s) << "/ " << job_runs_path(s) << "/\n";
    }
    out << "COPY app/" << app_file_ << " /app/" << app_file_
        << "\n"
           "COPY snapshot.snaplog /app/snapshot.snaplog\n"
           "ENV SNAP_LOG=/app/snapshot.snaplog\n"
           "# Each service runs as its own user (docker-compose.yml); never as root.\n"
           "USER 65534:65534\n"
           "ENTRYPOINT [\"/app/"
        << app_file_ << "\", \"run\"]\n";
    return out.str();
  }

  std::string dockerignore() const {
    return header(input_.app_name) +
           "# Only what the Dockerfile copies is sent to the engine: never state/ or runtime-secrets/,\n"
           "# which hold secret values.\n"
           "*\n"
           "!Dockerfile\n"
           "!app\n"
           "!image\n"
           "!snapshot.snaplog\n";
  }

  std::string compose(const std::vector<DeploySecretFile>& secret_files) const {
    std::ostringstream out;
    out << header(input_.app_name)
        << "# Run it: docker-compose -f docker-compose.yml up -d   (a job runs once per build; commands: bin/NAME)\n"
           "# Images: SNAP_IMAGE (default: built from this directory) and SNAP_POSTGRES_IMAGE.\n"
           "services:\n";
    const std::string image = quote_interpolated("SNAP_IMAGE", "snap-" + app_file_);
    for (const Service& s : services_) {
      out << "  " << s.name << ":\n    labels: {\"snap.app\": " << quote(input_.app_name) << "}\n";
      if (s.kind == ServiceKind::kDatabase) {
        database_service(out, s);
      } else {
        out << "    image: " << image
            << "\n"
               "    build: \".\"\n"
               "    command: "
            << flow_list({s.component->id}) << "\n";
        if (s.kind == ServiceKind::kCommand) out << "    profiles: [\"commands\"]\n";
        out << "    restart: " << (s.kind == ServiceKind::kDaemon ? "\"unless-stopped\"" : "\"no\"") << "\n";
      }
      if (s.kind == ServiceKind::kJob) {
        out << "    # Once per build: the job records its completed run in its volume, and its container\n"
               "    # started again for the same build (`up`) finds the record and stops; bin/"
            << s.name << " runs it again.\n    environment:\n      SNAP_JOB_RUNS: " << quote(job_runs_path(s))
            << "\n    volumes:\n      - " << quote(job_runs_volume(s) + ":" + job_runs_path(s)) << "\n";
      }
      hardening(out, s);
      out << "    mem_limit: " << quote(size_text(memory_limit(s))) << "\n    pids_limit: " << pids_limit(s) << "\n";
      const std::vector<const DeploySecretFile*> mine = secrets_of(s, secret_files);
      if (!mine.empty()) {
        out << "    secrets:\n";
        for (const DeploySecretFile* f : mine) {
          out << "      - source: " << quote(secret_key(*f)) << "\n        target: " << quote(f->secret) << "\n";
        }
      }
      if (s.networks.empty()) {
        out << "    network_mode: \"none\"\n";
      } else {
        networks_of(out, s, s.networks);
      }
      if (s.kind == ServiceKind::kDaemon) {
        healthcheck(out, {"CMD", "/app/" + app_file_, "health", s.component->id});
      }
      if (!s.targets.empty()) {
        out << "    depends_on:\n";
        for (const std::string& t : s.targets) out << "      " << t << ":\n        condition: service_healthy\n";
      }
    }
    if (!reached_.empty()) {
      out << "networks:\n";
      for (const std::string& n : reached_) out << "  " << n << ":\n    internal: true\n";
    }
    write_volumes_and_secrets(out, secret_files, [](const DeploySecretFile& f) { return secret_key(f); }, true);
    return out.str();
  }

  // The top-level volumes (one per database; in compose one per job too) and secrets (one
  // per file) sections, which the compose and stack files share but for how a secret is named.
  template <typename SecretKey>
  void write_volumes_and_secrets(std::ostream& out, const std::vector<DeploySecretFile>& secret_files, SecretKey key,
                                 bool job_volumes) const {
    bool any_volume = false;
    for (const Service& s : services_) {
      if (s.kind != ServiceKind::kDatabase && !(job_volumes && s.kind == ServiceKind::kJob)) continue;
      if (!any_volume) out << "volumes:\n";
      any_volume = true;
      out << "  " << (s.kind == ServiceKind::kJob ? job_runs_volume(s) : volume_of(s)) << ": {}\n";
    }
    if (!secret_files.empty()) {
      out << "secrets:\n";
      for (const DeploySecretFile& f : secret_files) {
        out << "  " << quote(key(f)) << ":\n    file: " << quote("./" + f.path) << "\n";
      }
    }
  }

  void check_swarm_options() const {
    if (options_.endpoint_mode != "dnsrr" && options_.endpoint_mode != "vip") {
      throw DeployError("deploy: endpoint mode \"" + options_.endpoint_mode + "\" is neither \"dnsrr\" nor \"vip\"");
    }
    for (const auto& [name, count] : options_.replicas) {
      const Service* found = nullptr;
      for (const Service& s : services_) {
        if (s.name == name) found = &s;
      }
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

  std::uint64_t memory_limit(const Service& s) const {
    const auto it = options_.memory_limits_bytes.find(s.name);
    return it == options_.memory_limits_bytes.end() ? options_.memory_limit_bytes : it->second;
  }
  std::uint64_t pids_limit(const Service& s) const {
    const auto it = options_.pids_limits.find(s.name);
    return it == options_.pids_limits.end() ? options_.pids_limit : it->second;
  }

  void check_limits() const {
    auto check_memory = [](const std::string& what, std::uint64_t bytes) {
      if (bytes < kMinimumMemoryLimit) {
        throw DeployError("deploy: the memory limit " + what + " (" + std::to_string(bytes) +
                          " bytes) is below Docker's minimum of 6 MiB");
      }
    };
    auto check_pids = [](const std::string& what, std::uint64_t pids) {
      if (pids == 0) throw DeployError("deploy: the pids limit " + what + " is 0: no process could start");
    };
    check_memory("of every service", options_.memory_limit_bytes);
    check_pids("of every service", options_.pids_limit);
    auto check_service = [&](const char* kind, const std::string& name) {
      for (const Service& s : services_) {
        if (s.name == name) return;
      }
      throw DeployError(std::string("deploy: a ") + kind + " limit for \"" + name + "\", which is no service of this app");
    };
    for (const auto& [name, bytes] : options_.memory_limits_bytes) {
      check_service("memory", name);
      check_memory("of " + name, bytes);
    }
    for (const auto& [name, pids] : options_.pids_limits) {
      check_service("pids", name);
      check_pids("of " + name, pids);
    }
  }

  // The swarm twin of compose(): the same services, users, secrets, networks, volumes and
  // healthchecks, in the form `docker stack deploy` takes. What swarm ignores or refuses
  // is left out (build, restart, depends_on, profiles, network_mode, security_opt, tmpfs),
  // and what it adds is set: replicas, restart policies, endpoint mode, overlay networks,
  // secrets' owner and mode inside the container.
  std::string stack(const std::vector<DeploySecretFile>& secret_files) const {
    std::ostringstream out;
    out << header(input_.app_name)
        << "# Run it on a swarm: docker stack deploy --resolve-image never -c docker-stack.yml STACK\n"
           "# Images: SNAP_IMAGE and SNAP_POSTGRES_IMAGE, on every node (nothing is built here);\n"
           "# replicas of a daemon service: SNAP_REPLICAS_<SERVICE>. Placement is yours to add.\n"
           "# Version 3.9 (Docker 20.10): the first with a pids limit.\n"
           "version: \"3.9\"\n"
           "services:\n";
    const std::string image = quote_interpolated("SNAP_IMAGE", "snap-" + app_file_);
    std::set<std::string> alone;  // services that reach nothing and that nothing reaches
    for (const Service& s : services_) {
      out << "  " << s.name << ":\n";
      if (s.kind == ServiceKind::kDatabase) {
        stack_database(out, s);
      } else {
        out << "    image: " << image << "\n    command: " << flow_list({s.component->id}) << "\n";
      }
      out << "    user: \"" << s.uid << ":" << s.uid
          << "\"\n"
             "    read_only: true\n"
             "    cap_drop: [\"ALL\"]\n"
             "    init: true\n"
             "    volumes:\n";
      if (s.kind == ServiceKind::kDatabase) out << "      - \"" << volume_of(s) << ":/var/lib/postgresql/data\"\n";
      out << "      - {type: \"tmpfs\", target: \"/tmp\"}\n";
      if (s.kind == ServiceKind::kDatabase) out << "      - {type: \"tmpfs\", target: \"/var/run/postgresql\"}\n";
      const std::vector<const DeploySecretFile*> mine = secrets_of(s, secret_files);
      if (!mine.empty()) {
        out << "    secrets:\n";
        for (const DeploySecretFile* f : mine) {
          out << "      - source: " << quote(stack_secret_key(*f)) << "\n        target: " << quote(f->secret)
              << "\n        uid: \"" << s.uid << "\"\n        gid: \"" << s.uid << "\"\n        mode: 0400\n";
        }
      }
      const std::vector<std::string> networks = stack_networks(s);
      if (s.networks.empty()) alone.insert(networks.front());
      networks_of(out, s, networks);
      if (s.kind == ServiceKind::kDaemon) {
        healthcheck(out, {"CMD", "/app/" + app_file_, "health", s.component->id});
      } else if (s.kind == ServiceKind::kDatabase) {
        healthcheck(out, {"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", string_config(s, "user"), "-d",
                          string_config(s, "database")});
      }
      // The default chosen at build; $SNAP_ENDPOINT_MODE switches it at deploy (a kernel with IPVS: "vip").
      out << "    deploy:\n      endpoint_mode: " << quote_interpolated("SNAP_ENDPOINT_MODE", options_.endpoint_mode) << "\n";
      switch (s.kind) {
        case ServiceKind::kDaemon: {
          const auto it = options_.replicas.find(s.name);
          out << "      replicas: " << replicas_variable(s) << ":-" << (it == options_.replicas.end() ? 1u : it->second)
              << "}\n      restart_policy: {condition: \"any\", delay: \"2s\"}\n";
          break;
        }
        case ServiceKind::kDatabase:
          out << "      # One replica: its data is one volume, on the node it runs on (pin it there).\n"
                 "      replicas: 1\n"
                 "      restart_policy: {condition: \"any\", delay: \"2s\"}\n";
          break;
        case ServiceKind::kJob:
          // Swarm starts everything at once (no depends_on): the job's client retries
          // while its servers come up, and a failed run is retried a bounded number of times.
          out << "      replicas: 1\n"
                 "      restart_policy: {condition: \"on-failure\", delay: \"5s\", max_attempts: 3}\n";
          break;
        case ServiceKind::kCommand:
          // Present for its secrets and networks; runs only when scaled up.
          out << "      replicas: 0\n      restart_policy: {condition: \"none\"}\n";
          break;
      }
      out << "      resources:\n        limits: {memory: " << quote(size_text(memory_limit(s))) << ", pids: " << pids_limit(s)
          << "}\n";
    }
    std::set<std::string> networks = reached_;
    networks.insert(alone.begin(), alone.end());
    out << "networks:\n";
    for (const std::string& n : networks) {
      // Attachable: `docker run --network STACK_NAME` can join it (tools, probes, one-off runs).
      out << "  " << n << ":\n    driver: \"overlay\"\n    internal: true\n    attachable: true\n";
    }
    write_volumes_and_secrets(out, secret_files, [](const DeploySecretFile& f) { return stack_secret_key(f); }, false);
    return out.str();
  }

  // ${SNAP_REPLICAS_SERVICE (without its closing brace and default).
  static std::string replicas_variable(const Service& s) {
    std::string name;
    for (char c : s.name) name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
    return "${SNAP_REPLICAS_" + name;
  }

  // A swarm secret's name is STACK_KEY and at most 64 characters: keys longer than 40
  // keep their first 31 characters and a hash of the whole, leaving room for the stack.
  static std::string stack_secret_key(const DeploySecretFile& f) {
    const std::string key = secret_key(f);
    if (key.size() <= 40) return key;
    char hash[9];
    std::snprintf(hash, sizeof hash, "%08x", fnv1a(key));
    return key.substr(0, 31) + "-" + hash;
  }

  void stack_database(std::ostringstream& out, const Service& s) const {
    out << "    image: " << quote_interpolated("SNAP_POSTGRES_IMAGE", options_.postgres_image)
        << "\n"
           "    stop_signal: \"SIGINT\"\n"
           "    environment:\n"
           "      POSTGRES_USER: "
        << quote(string_config(s, "user")) << "\n      POSTGRES_DB: " << quote(string_config(s, "database"))
        << "\n      POSTGRES_PASSWORD_FILE: " << quote("/run/secrets/" + string_config(s, "password_secret"))
        << "\n      PGDATA: \"/var/lib/postgresql/data/pgdata\"\n";
  }

  static std::string secret_key(const DeploySecretFile& f) { return f.service + "--" + key_for(f.secret); }
  static std::string volume_of(const Service& s) { return s.name + "-data"; }
  // A job's record of its runs (compose): its volume, where it is mounted, and the empty
  // directory of the build context the Dockerfile copies there with the job's owner.
  static std::string job_runs_volume(const Service& s) { return s.name + "-runs"; }
  static std::string job_runs_path(const Service& s) { return "/var/lib/snap/jobs/" + s.name; }
  static std::string job_runs_context(const Service& s) { return "image/jobs/" + s.name; }

  void database_service(std::ostringstream& out, const Service& s) const {
    const std::string user = string_config(s, "user");
    const std::string database = string_config(s, "database");
    out << "    image: " << quote_interpolated("SNAP_POSTGRES_IMAGE", options_.postgres_image)
        << "\n"
           "    restart: \"unless-stopped\"\n"
           "    # Fast shutdown (the official image's STOPSIGNAL): clients are cut, not waited for.\n"
           "    stop_signal: \"SIGINT\"\n"
           "    environment:\n"
           "      POSTGRES_USER: "
        << quote(user) << "\n      POSTGRES_DB: " << quote(database)
        << "\n      POSTGRES_PASSWORD_FILE: " << quote("/run/secrets/" + string_config(s, "password_secret"))
        << "\n"
           "      # A directory inside the volume, so that any uid can initialise it.\n"
           "      PGDATA: \"/var/lib/postgresql/data/pgdata\"\n"
           "    volumes:\n"
           "      - \""
        << volume_of(s) << ":/var/lib/postgresql/data\"\n";
    healthcheck(out, {"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", user, "-d", database});
  }

  static void hardening(std::ostringstream& out, const Service& s) {
    out << "    user: \"" << s.uid << ":" << s.uid
        << "\"\n"
           "    read_only: true\n"
           "    tmpfs: "
        << (s.kind == ServiceKind::kDatabase ? "[\"/tmp\", \"/var/run/postgresql\"]" : "[\"/tmp\"]")
        << "\n"
           "    cap_drop: [\"ALL\"]\n"
           "    security_opt: [\"no-new-privileges:true\"]\n"
           "    init: true\n";
  }

  // Checked every 2 s so that dependents start soon after; failures in the first 60 s
  // (replaying the log, initialising a database) do not count.
  static void healthcheck(std::ostringstream& out, const std::vector<std::string>& test) {
    out << "    healthcheck:\n      test: " << flow_list(test)
        << "\n      interval: \"2s\"\n      timeout: \"10s\"\n      retries: 5\n      start_period: \"60s\"\n";
  }

  std::string passwd() const {
    std::string out = "root:x:0:0:root:/nonexistent:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n";
    for (const Service& s : services_) {
      if (s.kind == ServiceKind::kDatabase) continue;
      out += s.name + ":x:" + std::to_string(s.uid) + ":" + std::to_string(s.uid) + ":" + s.name +
             ":/nonexistent:/nonexistent\n";
    }
    return out;
  }
  std::string group() const {
    std::string out = "root:x:0:\nnogroup:x:65534:\n";
    for (const Service& s : services_) {
      if (s.kind == ServiceKind::kDatabase) continue;
      out += s.name + ":x:" + std::to_string(s.uid) + ":\n";
    }
    return out;
  }

  // bin/NAME: a command, or a job run again, in its own container (its secrets and networks
  // only) against the running deployment. Which one: $COMPOSE_PROJECT_NAME, else the one
  // compose project that runs this app from this directory (compose labels each container
  // with its project and working directory, the compose file with snap.app). Starting none
  // itself: `docker-compose run` in a project that is not up would start a second, empty
  // deployment (named after the directory) and the command would run against it.
  std::string command_script(const Service& s) const {
    const bool job = s.kind == ServiceKind::kJob;
    std::ostringstream out;
    out << "#!/bin/sh\n"
        << header(input_.app_name) << "# Runs the " << (job ? "job " : "command ") << s.component->id
        << (job ? " again" : " once")
        << ", in its own container (its secrets, its networks\n"
           "# only), against the running deployment, and exits with its status.\n"
           "# Usage: bin/"
        << s.name
        << " [ARGS...]\n"
           "# The deployment: $COMPOSE_PROJECT_NAME, else the one running from this directory. With\n"
           "# none running it refuses (status 69), with several too (status 64), saying how to name one.\n"
           "here=$(cd \"$(dirname \"$0\")/..\" && pwd -P) || exit 1\n"
           "app="
        << shell_quote(input_.app_name)
        << "\n"
           "found=$(docker ps --filter \"label=snap.app=$app\" --filter label=com.docker.compose.oneoff=False \\\n"
           "  --format '{{.Label \"com.docker.compose.project\"}} {{.Label \"com.docker.compose.project.working_dir\"}}') || exit 1\n"
           "running= mine= named= choices=\n"
           "while read -r project dir; do\n"
           "  [ -n \"$project\" ] || continue\n"
           "  case \" $running \" in *\" $project \"*) continue ;; esac\n"
           "  running=\"${running:+$running }$project\"\n"
           "  choices=\"$choices\n  COMPOSE_PROJECT_NAME=$project $0 ...   (running from $dir)\"\n"
           "  [ \"$project\" = \"${COMPOSE_PROJECT_NAME:-}\" ] && named=$project\n"
           "  [ \"$(cd \"$dir\" 2>/dev/null && pwd -P)\" = \"$here\" ] && mine=\"${mine:+$mine }$project\"\n"
           "done <<EOF\n"
           "$(printf '%s\\n' \"$found\" | sort)\n"
           "EOF\n"
           "refuse() {\n"
           "  echo \"$0: $2\" >&2\n"
           "  if [ -n \"$running\" ]; then\n"
           "    echo \"name the deployment to run against:$choices\" >&2\n"
           "  else\n"
           "    echo \"start it first: docker-compose -p NAME -f $here/docker-compose.yml up -d, then\" \\\n"
           "      \"COMPOSE_PROJECT_NAME=NAME $0 ...\" >&2\n"
           "  fi\n"
           "  exit \"$1\"\n"
           "}\n"
           "if [ -n \"${COMPOSE_PROJECT_NAME:-}\" ]; then\n"
           "  [ -n \"$named\" ] || refuse 69 \"no deployment of $app named $COMPOSE_PROJECT_NAME (\\$COMPOSE_PROJECT_NAME) is running\"\n"
           "  project=$named\n"
           "else\n"
           "  case $mine in\n"
           "    \"\") refuse 69 \"no deployment of $app from $here is running\" ;;\n"
           "    *\" \"*) refuse 64 \"several deployments of $app from $here are running ($mine)\" ;;\n"
           "  esac\n"
           "  project=$mine\n"
           "fi\n"
           "tty=\n"
           "[ -t 0 ] && [ -t 1 ] || tty=-T\n"
           "exec docker-compose -p \"$project\" -f \"$here/docker-compose.yml\" run --rm $tty "
        << s.name << (job ? " --again " : " ") << shell_quote(s.component->id) << " \"$@\"\n";
    return out.str();
  }

  // The swarm twin of command_script(): the command as a one-off swarm job (Docker 20.10's
  // replicated-job mode) with the image, user, hardening, networks and secrets its
  // service has in docker-stack.yml; its output is the task's log, its status the task's.
  std::string stack_command_script(const Service& s, const std::vector<DeploySecretFile>& secret_files) const {
    const std::string uid = std::to_string(s.uid);
    std::ostringstream out;
    out << "#!/bin/sh\n"
        << header(input_.app_name) << "# Runs the command " << s.component->id
        << " once on a swarm, as a job of its own (its secrets, its networks\n"
           "# only), against the stack deployed from docker-stack.yml, and exits with the command's\n"
           "# status. Its output is the job's log: stdout and stderr, shown once it has finished.\n"
           "# The job is removed when it ends (and with the stack: `docker stack rm` takes it too).\n"
           "# Usage: bin/stack/"
        << s.name
        << " STACK [ARGS...]   (image: $SNAP_IMAGE, as for the stack)\n"
           "[ $# -ge 1 ] || { echo \"usage: $0 STACK [ARGS...]\" >&2; exit 64; }\n"
           "stack=$1\n"
           "shift\n"
           "job=\"${stack}_"
        << s.name
        << "-run-$$\"\n"
           "docker service create --quiet --detach --no-resolve-image --mode replicated-job \\\n"
           "  --restart-condition none --name \"$job\" --label \"com.docker.stack.namespace=$stack\" \\\n"
           "  --user "
        << uid << ":" << uid
        << " --read-only --cap-drop ALL --init \\\n"
           "  --mount type=tmpfs,target=/tmp \\\n";
    for (const std::string& n : stack_networks(s)) out << "  --network \"${stack}_" << n << "\" \\\n";
    for (const DeploySecretFile* f : secrets_of(s, secret_files)) {
      out << "  --secret \"source=${stack}_" << stack_secret_key(*f) << ",target=" << f->secret << ",uid=" << uid
          << ",gid=" << uid << ",mode=0400\" \\\n";
    }
    out << "  \"${SNAP_IMAGE:-snap-" << app_file_ << "}\" " << shell_quote(s.component->id)
        << " \"$@\" >/dev/null || exit 1\n"
           "trap 'docker service rm \"$job\" >/dev/null 2>&1' EXIT\n"
           "trap 'exit 130' INT TERM\n"
           "while :; do\n"
           "  state=$(docker service ps --format '{{.CurrentState}}' \"$job\" 2>/dev/null | head -n 1)\n"
           "  case $state in Complete*|Failed*|Rejected*|Shutdown*|Orphaned*) break ;; esac\n"
           "  sleep 0.2\n"
           "done\n"
           "docker service logs --raw \"$job\"\n"
           "case $state in Complete*) exit 0 ;; esac\n"
           "task=$(docker service ps -q --no-trunc \"$job\" | head -n 1)\n"
           "status=$(docker inspect --format '{{.Status.ContainerStatus.ExitCode}}' \"$task\" 2>/dev/null)\n"
           "[ -n \"$status\" ] && [ \"$status\" != 0 ] && exit \"$status\"\n"
           "echo \"$0: the job ended $state\" >&2\n"
           "exit 1\n";
    return out.str();
  }

  // Volumes of earlier builds that this build no longer has keep their data; the build
  // says so and bin/remove-orphans removes them.
  void orphans(DeployPlan& plan) const {
    std::map<std::string, std::string> volumes, orphaned;
    for (const Service& s : services_) {
      if (s.kind == ServiceKind::kDatabase) volumes[volume_of(s)] = s.component->id;
    }
    auto collect = [&](const char* key) {
      if (!input_.previous.is_object()) return;
      const auto* v = input_.previous.as_object().if_contains(key);
      if (!v || !v->is_object()) return;
      for (const auto& [volume, id] : v->as_object()) {
        if (!volumes.count(volume) && id.is_string()) orphaned[std::string(volume)] = std::string(id.as_string());
      }
    };
    collect("volumes");
    collect("orphaned_volumes");
    boost::json::object state, current, gone;
    for (const auto& [volume, id] : volumes) current[volume] = id;
    for (const auto& [volume, id] : orphaned) {
      gone[volume] = id;
      plan.orphaned_volumes.push_back("volume " + volume + " (database " + id +
                                      ", no longer in this build) keeps its data; bin/remove-orphans deletes it");
    }
    state["volumes"] = std::move(current);
    state["orphaned_volumes"] = std::move(gone);
    plan.files.push_back({"state/deploy.json", boost::json::serialize(state) + "\n"});

    std::string script = "#!/bin/sh\n" + header(input_.app_name) +
                         "# Deletes the volumes of databases that earlier builds had and this one does not, WITH\n"
                         "# THEIR DATA (their containers go with `docker-compose up --remove-orphans`). The\n"
                         "# compose project: $COMPOSE_PROJECT_NAME, else this directory's name. Safe to re-run.\n"
                         "here=$(cd \"$(dirname \"$0\")/..\" && pwd) || exit 1\n"
                         "project=${COMPOSE_PROJECT_NAME:-$(basename \"$here\" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')}\n";
    if (orphaned.empty()) script += "echo \"no orphaned volumes\"\n";
    for (const auto& [volume, id] : orphaned) {
      script += "echo \"removing volume ${project}_" + volume + " (database " + replace_all(id, "\"", "") + ")\"\n";
      script += "docker volume rm \"${project}_" + volume + "\" >/dev/null 2>&1 || echo \"  (not there)\"\n";
    }
    plan.files.push_back({"bin/remove-orphans", script, true});
  }

  const DeployInput& input_;
  const DeployOptions& options_;
  std::string app_file_;
  std::vector<Service> services_;
  std::map<std::string, std::size_t> service_of_;
  std::set<std::string> reached_;
};

}  // namespace

DeployPlan plan_deployment(const DeployInput& input, const DeployOptions& options) {
  return Planner(input, options).plan();
}

}  // namespace snap
