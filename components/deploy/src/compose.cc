// docker-compose.yml: the app on one host, and what the compose and stack files share.
#include <cctype>
#include <cstdio>
#include <sstream>

#include "snap/component_type.h"
#include "snap/episode.h"
#include "text.h"
#include "writers.h"

namespace snap::deploy_plan {

namespace {

void hardening(std::ostream& out, const Service& s) {
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

void database_service(std::ostream& out, const ServiceGraph& g, const Service& s) {
  const std::string user = string_config(s, "user");
  const std::string database = string_config(s, "database");
  out << "    image: " << quote_interpolated("SNAP_POSTGRES_IMAGE", g.options.postgres_image)
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
  write_healthcheck(out, {"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", user, "-d", database});
}

// How long Docker waits after SIGTERM before it kills an API server's container: an
// upgrade (`up -d` of a new build) stops each server so, and a stopping server answers the
// calls in flight for up to its stop deadline (ApiServerOptions::stop_deadline, in its
// config; 10 s when the config predates it), which is Docker's own default grace period:
// the SIGKILL would race the end of the server's orderly stop (the drained calls' answers,
// its last episodes and spans). 5 s more lets the server's deadline come first.
std::string stop_grace_period(const Service& s) {
  std::int64_t deadline_ms = 10'000;
  if (const auto* limits = s.config.if_contains("limits"); limits != nullptr && limits->is_object()) {
    if (const auto* ms = limits->as_object().if_contains("stop_deadline_ms"); ms != nullptr && ms->is_int64()) {
      deadline_ms = ms->as_int64();
    }
  }
  return std::to_string((deadline_ms + 999) / 1000 + 5) + "s";
}

// What runs: the database's image, or the app's image as one persona.
void compose_program(std::ostream& out, const ServiceGraph& g, const Service& s) {
  if (s.kind == ServiceKind::kDatabase) {
    database_service(out, g, s);
  } else {
    out << "    image: " << quote_interpolated("SNAP_IMAGE", "snap-" + g.app_file)
        << "\n"
           "    build: \".\"\n"
           "    command: "
        << flow_list({s.component->id}) << "\n";
    if (s.kind == ServiceKind::kCommand) out << "    profiles: [\"commands\"]\n";
    out << "    restart: " << (s.kind == ServiceKind::kDaemon ? "\"unless-stopped\"" : "\"no\"") << "\n";
  }
  std::vector<std::pair<std::string, std::string>> environment;
  if (s.kind == ServiceKind::kJob) {
    out << "    # Once per build: the job records its completed run in its volume, and its container\n"
           "    # started again for the same build (`up`) finds the record and stops; bin/"
        << s.name << " runs it again.\n";
    environment.emplace_back("SNAP_JOB_RUNS", job_runs_path(s));
  }
  for (auto& entry : service_environment(g, s)) environment.push_back(std::move(entry));
  if (s.records_requests) {
    out << "    # Recorded requests (episodes) go to its volume; bin/episodes lists and fetches them.\n";
  }
  std::vector<std::pair<std::string, std::string>> scalars = episodes_environment(g, s);
  for (auto& entry : version_skew_environment(s, "warn")) scalars.push_back(std::move(entry));
  write_environment(out, environment, scalars);
  if (s.kind == ServiceKind::kJob) {
    out << "    volumes:\n      - " << quote(job_runs_volume(s) + ":" + job_runs_path(s)) << "\n";
  }
  if (s.records_requests) out << "    volumes:\n      - " << quote(episodes_volume(s) + ":" + episodes_path(s)) << "\n";
}

void compose_service(std::ostream& out, const ServiceGraph& g, const Service& s) {
  out << "  " << s.name << ":\n    labels: {\"snap.app\": " << quote(g.input.app_name) << "}\n";
  compose_program(out, g, s);
  hardening(out, s);
  out << "    mem_limit: " << quote(size_text(memory_limit(g, s))) << "\n    pids_limit: " << pids_limit(g, s) << "\n";
  const std::vector<const DeploySecretFile*> mine = secrets_of(g, s);
  if (!mine.empty()) {
    out << "    secrets:\n";
    for (const DeploySecretFile* f : mine) {
      out << "      - source: " << quote(secret_key(*f)) << "\n        target: " << quote(f->secret) << "\n";
    }
  }
  if (s.networks.empty()) {
    out << "    network_mode: \"none\"\n";
  } else {
    write_networks(out, g, s, s.networks);
  }
  if (s.kind == ServiceKind::kDaemon) {
    write_healthcheck(out, {"CMD", "/app/" + g.app_file, "health", s.component->id});
  }
  if (s.kind == ServiceKind::kDaemon && component_type_of(s.component->type) == ComponentType::kApiServer) {
    out << "    # Its stop deadline (the calls in flight) and 5 s: an upgrade does not kill it mid-answer.\n"
           "    stop_grace_period: \""
        << stop_grace_period(s) << "\"\n";
  }
  if (s.published_port != 0) {
    // The host port ($SNAP_PUBLISH_<SERVICE> at `up`), on every host address: the server
    // is meant to be reached from outside.
    out << "    ports:\n      - \"" << service_variable("SNAP_PUBLISH", s) << ":-" << s.published_port << "}:" << server_port(s)
        << "\"\n";
  }
  if (!s.targets.empty()) {
    out << "    depends_on:\n";
    for (const std::string& t : s.targets) out << "      " << t << ":\n        condition: service_healthy\n";
  }
}

}  // namespace

std::string compose(const ServiceGraph& g) {
  std::ostringstream out;
  out << header(g.input.app_name)
      << "# Run it: docker-compose -f docker-compose.yml up -d --build --remove-orphans   (a job runs once per\n"
         "# build; commands: bin/NAME)\n"
         // What an upgrade takes and does (docs/deploy.md, "Upgrading"): without --build,
         // `up -d` keeps the image it built first and the new build does not run at all.
         "# Upgrade: build the next version into this same directory and run the same command: --build\n"
         "# makes the new image (without it the old build keeps running), --remove-orphans stops services\n"
         "# the new build no longer has. The app's services are recreated; databases keep their containers\n"
         "# and volumes, stores bring their indexes up to date when opened, each job runs once per build.\n"
         "# Images: SNAP_IMAGE (default: built from this directory) and SNAP_POSTGRES_IMAGE.\n"
         "services:\n";
  for (const Service& s : g.services) compose_service(out, g, s);
  compose_observability_services(out, g);
  if (!g.reached.empty() || g.options.observability || !g.options.published.empty()) {
    out << "networks:\n";
    for (const std::string& n : g.reached) out << "  " << n << ":\n    internal: true\n";
    compose_observability_networks(out, g);
    for (const Service& s : g.services) {
      if (!s.public_network.empty()) out << "  " << s.public_network << ": {}\n";
    }
  }
  write_volumes_and_secrets(out, g, secret_key, true);
  return out.str();
}

std::string secret_key(const DeploySecretFile& f) { return f.service + "--" + key_for(f.secret); }

std::string stack_secret_key(const DeploySecretFile& f) {
  const std::string key = secret_key(f);
  if (key.size() <= 40) return key;
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", fnv1a(key));
  return key.substr(0, 31) + "-" + hash;
}

// On the network named after it, the service's address there is also `listen.NAME`
// (Id::listen_name()): a server listens on that address only (and loopback), so a service
// it shares another network with (its own database) cannot connect to it.
// Likewise `metrics.NAME` on its metrics network (`--observability`), where it serves
// /metrics only.
void write_networks(std::ostream& out, const ServiceGraph& g, const Service& s, const std::vector<std::string>& networks) {
  if (!g.reached.count(s.name) && s.metrics_network.empty() && s.public_network.empty()) {
    out << "    networks: " << flow_list(networks) << "\n";
    return;
  }
  out << "    networks:\n";
  for (const std::string& n : networks) {
    out << "      " << n << ": ";
    if (n == s.name && g.reached.count(s.name)) {
      out << "{aliases: " << flow_list({s.id.listen_name()}) << "}\n";
    } else if (n == s.metrics_network) {
      out << "{aliases: " << flow_list({metrics_alias(s)}) << "}\n";
    } else if (n == s.public_network) {
      out << "{aliases: " << flow_list({public_alias(s)}) << "}\n";
    } else {
      out << "{}\n";
    }
  }
}

std::vector<std::pair<std::string, std::string>> service_environment(const ServiceGraph& g, const Service& s) {
  std::vector<std::pair<std::string, std::string>> out = observability_environment(g, s);
  if (!s.public_network.empty()) out.emplace_back("SNAP_PUBLIC_HOST", public_alias(s));
  return out;
}

std::vector<std::pair<std::string, std::string>> episodes_environment(const ServiceGraph& g, const Service& s) {
  if (!s.records_requests) return {};
  return {{"SNAP_RECORD_REQUESTS", "\"" + service_variable("SNAP_RECORD_REQUESTS", s) + ":-" + g.record_policy + "}\""},
          {"SNAP_EPISODES", quote(episodes_path(s))},
          {"SNAP_EPISODES_MAX_BYTES",
           "\"" + service_variable("SNAP_EPISODES_MAX_BYTES", s) + ":-" + size_text(EpisodeOptions{}.max_bytes) + "}\""}};
}

std::vector<std::pair<std::string, std::string>> version_skew_environment(const Service& s, std::string_view policy) {
  if (s.kind != ServiceKind::kDaemon || component_type_of(s.component->type) != ComponentType::kApiServer) return {};
  return {{"SNAP_VERSION_SKEW", "\"" + service_variable("SNAP_VERSION_SKEW", s) + ":-" + std::string(policy) + "}\""}};
}

std::string service_variable(std::string_view prefix, const Service& s) {
  std::string name;
  for (char c : s.name) name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  return "${" + std::string(prefix) + "_" + name;
}

void write_environment(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& variables,
                       const std::vector<std::pair<std::string, std::string>>& scalars) {
  if (variables.empty() && scalars.empty()) return;
  out << "    environment:\n";
  for (const auto& [name, value] : scalars) out << "      " << name << ": " << value << "\n";
  for (const auto& [name, value] : variables) out << "      " << name << ": " << quote(value) << "\n";
}

// Checked every 2 s so that dependents start soon after; failures in the first 60 s
// (replaying the log, initialising a database) do not count.
void write_healthcheck(std::ostream& out, const std::vector<std::string>& test) {
  out << "    healthcheck:\n      test: " << flow_list(test) << "\n      interval: \"" << kHealthcheck.interval
      << "s\"\n      timeout: \"" << kHealthcheck.timeout << "s\"\n      retries: " << kHealthcheck.retries
      << "\n      start_period: \"" << kHealthcheck.start_period << "s\"\n";
}

void write_volumes_and_secrets(std::ostream& out, const ServiceGraph& g, std::string (*key)(const DeploySecretFile&),
                               bool job_volumes) {
  bool any_volume = false;
  for (const Service& s : g.services) {
    std::vector<std::string> volumes;
    if (s.kind == ServiceKind::kDatabase) volumes.push_back(volume_of(s));
    if (job_volumes && s.kind == ServiceKind::kJob) volumes.push_back(job_runs_volume(s));
    if (s.records_requests) volumes.push_back(episodes_volume(s));
    for (const std::string& volume : volumes) {
      if (!any_volume) out << "volumes:\n";
      any_volume = true;
      out << "  " << volume << ": {}\n";
    }
  }
  if (g.options.observability && !any_volume) out << "volumes:\n";
  write_observability_volumes(out, g);
  if (!g.secret_files.empty()) {
    out << "secrets:\n";
    for (const DeploySecretFile& f : g.secret_files) {
      out << "  " << quote(key(f)) << ":\n    file: " << quote("./" + f.path) << "\n";
    }
  }
}

}  // namespace snap::deploy_plan
