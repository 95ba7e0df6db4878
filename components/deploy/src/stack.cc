// docker-stack.yml: the swarm twin of docker-compose.yml. The same services, users,
// secrets, networks, volumes and healthchecks, in the form `docker stack deploy` takes.
// What swarm ignores or refuses is left out (build, restart, depends_on, profiles,
// network_mode, security_opt, tmpfs), and what it adds is set: replicas, restart
// policies, endpoint mode, overlay networks, secrets' owner and mode inside the container.
#include <set>
#include <sstream>

#include "text.h"
#include "writers.h"

namespace snap::deploy_plan {

namespace {

void stack_database(std::ostream& out, const ServiceGraph& g, const Service& s) {
  out << "    image: " << quote_interpolated("SNAP_POSTGRES_IMAGE", g.options.postgres_image)
      << "\n"
         "    stop_signal: \"SIGINT\"\n"
         "    environment:\n"
         "      POSTGRES_USER: "
      << quote(string_config(s, "user")) << "\n      POSTGRES_DB: " << quote(string_config(s, "database"))
      << "\n      POSTGRES_PASSWORD_FILE: " << quote("/run/secrets/" + string_config(s, "password_secret"))
      << "\n      PGDATA: \"/var/lib/postgresql/data/pgdata\"\n";
}

// The service's user, hardening and volumes (swarm has no tmpfs: tmpfs volumes instead).
void stack_container(std::ostream& out, const Service& s) {
  out << "    user: \"" << s.uid << ":" << s.uid
      << "\"\n"
         "    read_only: true\n"
         "    cap_drop: [\"ALL\"]\n"
         "    init: true\n"
         "    volumes:\n";
  if (s.kind == ServiceKind::kDatabase) out << "      - \"" << volume_of(s) << ":/var/lib/postgresql/data\"\n";
  if (s.records_requests) out << "      - " << quote(episodes_volume(s) + ":" + episodes_path(s)) << "\n";
  out << "      - {type: \"tmpfs\", target: \"/tmp\"}\n";
  if (s.kind == ServiceKind::kDatabase) out << "      - {type: \"tmpfs\", target: \"/var/run/postgresql\"}\n";
}

// How long swarm watches a task of an update once it runs, for a failure that rolls the
// update back. Swarm counts a task with a healthcheck as running only once the check has
// passed (a new task stays "starting" until then, and the old one it replaces keeps
// running: start-first); a task that fails before that is a failed update however long
// it took, so the start period needs no cover here. What must be covered is a task that
// passed and then fails: a crash is seen at once, a server that stops answering after
// `retries` probes, each `interval` after the last and allowed `timeout` (5 x (2 s +
// 10 s) = 60 s at worst), plus 10 s for its node to report it. Both observed on Docker
// 20.10 (swarm_upgrade_e2e_test, docs/deploy.md "Rolling updates on a swarm").
constexpr int kUpdateMonitorSeconds = kHealthcheck.retries * (kHealthcheck.interval + kHealthcheck.timeout) + 10;

// `update_config` and `rollback_config` (docs/deploy.md, "Rolling updates on a swarm").
void stack_update(std::ostream& out, const Service& s) {
  const std::string monitor = "\"" + std::to_string(kUpdateMonitorSeconds) + "s\"";
  switch (s.kind) {
    case ServiceKind::kDaemon:
      // One task at a time, the new one started first: the old task is stopped only once
      // the new one is healthy, so the service never has fewer healthy tasks than its
      // replicas. The delay before the next task is as long as a new task that fails
      // its probes right after passing takes to be found unhealthy (5 x 2 s): a bad build
      // has then replaced one task at most when swarm rolls it back. The rollback is
      // start-first too: the task it replaces may be serving (a new build that passed its
      // healthcheck and failed later), so it stays until the previous build's task is
      // healthy again; stop-first would leave the slot empty while that one starts.
      out << "      # Rolling update: a task at a time, the new one healthy before the old one stops; a\n"
             "      # new task that fails rolls the service back (docs/deploy.md).\n"
             "      update_config: {parallelism: 1, delay: \"" << kHealthcheck.retries * kHealthcheck.interval
          << "s\", order: \"start-first\", failure_action: \"rollback\", monitor: " << monitor
          << "}\n      rollback_config: {parallelism: 1, order: \"start-first\"}\n";
      break;
    case ServiceKind::kDatabase:
      // Stop-first, updating and rolling back: start-first would run a second PostgreSQL
      // on the same data directory (the one volume) while the first still runs.
      out << "      # Stop-first: start-first would run two PostgreSQL servers on one data directory.\n"
             "      update_config: {parallelism: 1, order: \"stop-first\", failure_action: \"rollback\", monitor: "
          << monitor << "}\n      rollback_config: {parallelism: 1, order: \"stop-first\"}\n";
      break;
    case ServiceKind::kJob:
      // Swarm counts any task of an update that leaves `running` within the monitor
      // period as failed, a job's run completing included: with `rollback` a new build's
      // job that ends at once runs the previous build's job again, with `pause` (swarm's
      // default) the update says "paused" (both observed). A job's failures are its
      // restart policy's, so the update continues. Stop-first: never two runs of a job at
      // once (the previous build's may still be running, a migration say).
      out << "      # Swarm would count the job's run ending as a failed update: its restart policy\n"
             "      # handles failures.\n"
             "      update_config: {parallelism: 1, order: \"stop-first\", failure_action: \"continue\"}\n";
      break;
    case ServiceKind::kCommand:
      break;  // 0 replicas: no task to update (bin/stack/NAME runs it as a job of its own)
  }
}

// `deploy:`: endpoint mode, replicas, restart policy, rolling updates, resource limits.
void stack_deploy(std::ostream& out, const ServiceGraph& g, const Service& s) {
  // The default chosen at build; $SNAP_ENDPOINT_MODE switches it at deploy (a kernel with IPVS: "vip").
  out << "    deploy:\n      endpoint_mode: " << quote_interpolated("SNAP_ENDPOINT_MODE", g.options.endpoint_mode) << "\n";
  switch (s.kind) {
    case ServiceKind::kDaemon: {
      const auto it = g.options.replicas.find(s.name);
      out << "      replicas: " << service_variable("SNAP_REPLICAS", s) << ":-" << (it == g.options.replicas.end() ? 1u : it->second)
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
  stack_update(out, s);
  out << "      resources:\n        limits: {memory: " << quote(size_text(memory_limit(g, s))) << ", pids: " << pids_limit(g, s)
      << "}\n";
}

// One service; a service that reaches nothing and that nothing reaches adds its own
// network to `alone`.
void stack_service(std::ostream& out, const ServiceGraph& g, const Service& s, std::set<std::string>& alone) {
  out << "  " << s.name << ":\n";
  if (s.kind == ServiceKind::kDatabase) {
    stack_database(out, g, s);
  } else {
    out << "    image: " << quote_interpolated("SNAP_IMAGE", "snap-" + g.app_file)
        << "\n    command: " << flow_list({s.component->id}) << "\n";
    if (s.records_requests) {
      out << "    # Recorded requests (episodes) go to its volume, on each node a task runs on;\n"
             "    # bin/stack/episodes lists and fetches this node's.\n";
    }
    std::vector<std::pair<std::string, std::string>> scalars = episodes_environment(g, s);
    for (auto& entry : version_skew_environment(s, "strict")) scalars.push_back(std::move(entry));
    write_environment(out, service_environment(g, s), scalars);
    if (s.published_port != 0) {
      // Published on each node a task runs on (mode host: the routing mesh needs IPVS).
      out << "    ports:\n      - {target: " << server_port(s) << ", published: " << service_variable("SNAP_PUBLISH", s) << ":-"
          << s.published_port << "}, protocol: \"tcp\", mode: \"host\"}\n";
    }
  }
  stack_container(out, s);
  const std::vector<const DeploySecretFile*> mine = secrets_of(g, s);
  if (!mine.empty()) {
    out << "    secrets:\n";
    for (const DeploySecretFile* f : mine) {
      out << "      - source: " << quote(stack_secret_key(*f)) << "\n        target: " << quote(f->secret)
          << "\n        uid: \"" << s.uid << "\"\n        gid: \"" << s.uid << "\"\n        mode: 0400\n";
    }
  }
  const std::vector<std::string> networks = stack_networks(s);
  if (s.networks.empty()) alone.insert(networks.front());
  write_networks(out, g, s, networks);
  if (s.kind == ServiceKind::kDaemon) {
    write_healthcheck(out, {"CMD", "/app/" + g.app_file, "health", s.component->id});
  } else if (s.kind == ServiceKind::kDatabase) {
    write_healthcheck(out, {"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", string_config(s, "user"), "-d",
                            string_config(s, "database")});
  }
  stack_deploy(out, g, s);
}

}  // namespace

std::string stack(const ServiceGraph& g) {
  std::ostringstream out;
  out << header(g.input.app_name)
      << "# Run it on a swarm: docker stack deploy --resolve-image never -c docker-stack.yml STACK\n"
         "# Images: SNAP_IMAGE and SNAP_POSTGRES_IMAGE, on every node (nothing is built here);\n"
         "# replicas of a daemon service: SNAP_REPLICAS_<SERVICE>. Placement is yours to add.\n"
         "# Version 3.9 (Docker 20.10): the first with a pids limit.\n"
         "version: \"3.9\"\n"
         "services:\n";
  std::set<std::string> alone;  // services that reach nothing and that nothing reaches
  for (const Service& s : g.services) stack_service(out, g, s, alone);
  stack_observability_services(out, g);
  std::set<std::string> networks = g.reached;
  networks.insert(alone.begin(), alone.end());
  out << "networks:\n";
  for (const std::string& n : networks) {
    // Attachable: `docker run --network STACK_NAME` can join it (tools, probes, one-off runs).
    out << "  " << n << ":\n    driver: \"overlay\"\n    internal: true\n    attachable: true\n";
  }
  stack_observability_networks(out, g);
  for (const Service& s : g.services) {
    if (!s.public_network.empty()) out << "  " << s.public_network << ":\n    driver: \"overlay\"\n    attachable: true\n";
  }
  write_volumes_and_secrets(out, g, stack_secret_key, false);
  stack_observability_configs(out, g);
  return out.str();
}

}  // namespace snap::deploy_plan
