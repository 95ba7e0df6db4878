// `build --observability`: the Jaeger and Prometheus services, their configuration files,
// and what every app service is told so that it exports to them.
//
// Who reaches whom (docs/observability.md, "Deployed"):
//  - `telemetry`: every app service and Jaeger. Only Jaeger listens there (a server
//    listens on its own network's address and loopback only), so it adds exactly
//    "every service -> Jaeger".
//  - NAME-metrics, one per API server: that server (as metrics.NAME, where it serves
//    /metrics and nothing else) and Prometheus. One network per server, because on a
//    shared one every server would reach every other's metrics address.
//  - jaeger-ui and prometheus-ui: not internal, so that their UIs can be published on the
//    host's loopback. Prometheus listens on its address there only (ui.prometheus), so
//    the servers that share a metrics network with it cannot connect to it.
#include <cstdio>
#include <sstream>

#include "text.h"
#include "writers.h"

namespace snap::deploy_plan {

namespace {

constexpr std::string_view kJaegerUiNetwork = "jaeger-ui";
constexpr std::string_view kPrometheusUiNetwork = "prometheus-ui";
constexpr std::string_view kPrometheusUiAlias = "ui.prometheus";
constexpr std::string_view kJaegerConfigPath = "/etc/snap/jaeger.yaml";
constexpr std::string_view kPrometheusConfigPath = "/etc/snap/prometheus.yml";
constexpr std::string_view kPrometheusVolume = "prometheus-data";

std::vector<const Service*> scraped_servers(const ServiceGraph& g) {
  std::vector<const Service*> out;
  for (const Service& s : g.services) {
    if (!s.metrics_network.empty()) out.push_back(&s);
  }
  return out;
}

std::vector<std::string> prometheus_networks(const ServiceGraph& g) {
  std::vector<std::string> out{std::string(kPrometheusUiNetwork)};
  for (const Service* s : scraped_servers(g)) out.push_back(s->metrics_network);
  return out;
}

std::string jaeger_command() { return flow_list({"--config", std::string(kJaegerConfigPath)}); }

std::string prometheus_command() {
  return flow_list({"--config.file=" + std::string(kPrometheusConfigPath), "--storage.tsdb.path=/prometheus",
                    // Its own address on prometheus-ui only: see the top of this file.
                    "--web.listen-address=" + std::string(kPrometheusUiAlias) + ":9090"});
}

// A swarm config's name: its content's hash in it, since a config cannot be changed in
// place (a redeploy with a new one would be refused).
std::string stack_config_name(std::string_view what, const std::string& content) {
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", fnv1a(content));
  return std::string(what) + "-" + hash;
}

void hardening(std::ostream& out) {
  out << "    read_only: true\n"
         "    cap_drop: [\"ALL\"]\n"
         "    init: true\n";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> observability_environment(const ServiceGraph& g, const Service& s) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!g.options.observability || s.kind == ServiceKind::kDatabase) return out;
  out.emplace_back("OTEL_EXPORTER_OTLP_ENDPOINT", std::string(kOtlpEndpoint));
  if (!s.metrics_network.empty()) out.emplace_back("SNAP_METRICS_HOST", metrics_alias(s));
  return out;
}

std::string jaeger_config(const ServiceGraph& g) {
  return header(g.input.app_name) +
         "# Jaeger v2 (an OpenTelemetry collector): OTLP/HTTP in on 4318, traces kept in memory\n"
         "# (the most recent 100000), the UI and query API on 16686.\n"
         "service:\n"
         "  extensions: [jaeger_storage, jaeger_query]\n"
         "  pipelines:\n"
         "    traces:\n"
         "      receivers: [otlp]\n"
         "      exporters: [jaeger_storage_exporter]\n"
         "  telemetry:\n"
         "    metrics:\n"
         "      level: none\n"
         "extensions:\n"
         "  jaeger_storage:\n"
         "    backends:\n"
         "      memstore:\n"
         "        memory:\n"
         "          max_traces: 100000\n"
         "  jaeger_query:\n"
         "    storage:\n"
         "      traces: memstore\n"
         "    enable_tracing: false\n"
         "    http:\n"
         "      endpoint: \"0.0.0.0:16686\"\n"
         "    grpc:\n"
         "      endpoint: \"127.0.0.1:16685\"\n"
         "receivers:\n"
         "  otlp:\n"
         "    protocols:\n"
         "      http:\n"
         "        endpoint: \"0.0.0.0:4318\"\n"
         "exporters:\n"
         "  jaeger_storage_exporter:\n"
         "    trace_storage: memstore\n";
}

std::string prometheus_config(const ServiceGraph& g) {
  std::ostringstream out;
  out << header(g.input.app_name)
      << "# Prometheus scrapes every API server's /metrics on the network only the two share, at\n"
         "# metrics.SERVICE: each replica is one target (a DNS lookup gives them all).\n"
         "global:\n"
         "  scrape_interval: \"5s\"\n"
         "  evaluation_interval: \"5s\"\n"
         "scrape_configs:\n";
  const std::vector<const Service*> servers = scraped_servers(g);
  if (servers.empty()) out << "  []\n";
  for (const Service* s : servers) {
    out << "  - job_name: " << quote(s->name)
        << "\n"
           "    metrics_path: \"/metrics\"\n"
           "    dns_sd_configs:\n"
           "      - names: "
        << flow_list({metrics_alias(*s)}) << "\n        type: \"A\"\n        port: " << server_port(*s)
        << "\n        refresh_interval: \"5s\"\n";
  }
  return out.str();
}

void add_observability_files(const ServiceGraph& g, DeployPlan& plan) {
  if (!g.options.observability) return;
  plan.files.push_back({"observability/jaeger.yaml", jaeger_config(g)});
  plan.files.push_back({"observability/prometheus.yml", prometheus_config(g)});
  // Who reaches whom: every app service Jaeger; Prometheus every API server.
  for (auto& [service, targets] : plan.reaches) {
    const Service* s = nullptr;
    for (const Service& candidate : g.services) {
      if (candidate.name == service) s = &candidate;
    }
    if (s != nullptr && s->kind != ServiceKind::kDatabase) targets.emplace_back(kJaegerService);
  }
  plan.reaches.emplace_back(std::string(kJaegerService), std::vector<std::string>{});
  std::vector<std::string> scraped;
  for (const Service* s : scraped_servers(g)) scraped.push_back(s->name);
  plan.reaches.emplace_back(std::string(kPrometheusService), std::move(scraped));
}

namespace {

// What the two services share in docker-compose.yml: the head of the service up to its
// volumes (the image a variable, hardened as the app's services, limited).
void compose_head(std::ostream& out, const ServiceGraph& g, std::string_view name, std::string_view image_variable,
                  const std::string& image, const std::string& command) {
  out << "  " << name << ":\n    labels: {\"snap.app\": " << quote(g.input.app_name)
      << "}\n    image: " << quote_interpolated(image_variable, image) << "\n    command: " << command
      << "\n"
         "    restart: \"unless-stopped\"\n";
  hardening(out);
  out << "    tmpfs: [\"/tmp\"]\n"
         "    security_opt: [\"no-new-privileges:true\"]\n"
         "    mem_limit: \"1g\"\n"
         "    pids_limit: 1024\n";
}

// docker-stack.yml's head of the service, and its `deploy:`.
void stack_head(std::ostream& out, std::string_view name, std::string_view image_variable, const std::string& image,
                const std::string& command) {
  out << "  " << name << ":\n    image: " << quote_interpolated(image_variable, image) << "\n    command: " << command
      << "\n";
  hardening(out);
}

void stack_deploy(std::ostream& out, const ServiceGraph& g) {
  out << "    deploy:\n      endpoint_mode: " << quote_interpolated("SNAP_ENDPOINT_MODE", g.options.endpoint_mode)
      << "\n      replicas: 1\n      restart_policy: {condition: \"any\", delay: \"2s\"}\n"
         "      resources:\n        limits: {memory: \"1g\", pids: 1024}\n";
}

// Prometheus' networks: its UI network, where its address is ui.prometheus, and each
// server's metrics network.
void write_prometheus_networks(std::ostream& out, const ServiceGraph& g) {
  out << "    networks:\n";
  for (const std::string& n : prometheus_networks(g)) {
    out << "      " << n << ": ";
    if (n == kPrometheusUiNetwork) {
      out << "{aliases: " << flow_list({std::string(kPrometheusUiAlias)}) << "}\n";
    } else {
      out << "{}\n";
    }
  }
}

}  // namespace

void compose_observability_services(std::ostream& out, const ServiceGraph& g) {
  if (!g.options.observability) return;
  // The UIs on the host's loopback: $SNAP_JAEGER_PORT / $SNAP_PROMETHEUS_PORT, or a port
  // Docker picks when set empty (`docker-compose port jaeger 16686` tells which).
  compose_head(out, g, kJaegerService, "SNAP_JAEGER_IMAGE", g.options.jaeger_image, jaeger_command());
  out << "    volumes:\n"
         "      - \"./observability/jaeger.yaml:"
      << kJaegerConfigPath
      << ":ro\"\n"
         "    ports:\n"
         "      - \"127.0.0.1:${SNAP_JAEGER_PORT-16686}:16686\"\n"
         "    networks: "
      << flow_list({std::string(kJaegerUiNetwork), std::string(kTelemetryNetwork)}) << "\n";

  compose_head(out, g, kPrometheusService, "SNAP_PROMETHEUS_IMAGE", g.options.prometheus_image, prometheus_command());
  out << "    volumes:\n"
         "      - \"./observability/prometheus.yml:"
      << kPrometheusConfigPath << ":ro\"\n      - \"" << kPrometheusVolume
      << ":/prometheus\"\n"
         "    ports:\n"
         "      - \"127.0.0.1:${SNAP_PROMETHEUS_PORT-9090}:9090\"\n";
  write_prometheus_networks(out, g);
}

void stack_observability_services(std::ostream& out, const ServiceGraph& g) {
  if (!g.options.observability) return;
  stack_head(out, kJaegerService, "SNAP_JAEGER_IMAGE", g.options.jaeger_image, jaeger_command());
  out << "    volumes:\n      - {type: \"tmpfs\", target: \"/tmp\"}\n"
         "    configs:\n      - {source: "
      << quote(stack_config_name("jaeger-config", jaeger_config(g))) << ", target: " << quote(kJaegerConfigPath)
      << ", mode: 0444}\n"
         "    # Published on each node the task runs on (mode host: the routing mesh needs IPVS).\n"
         "    ports:\n      - {target: 16686, published: 16686, protocol: \"tcp\", mode: \"host\"}\n"
         "    networks: "
      << flow_list({std::string(kJaegerUiNetwork), std::string(kTelemetryNetwork)}) << "\n";
  stack_deploy(out, g);

  stack_head(out, kPrometheusService, "SNAP_PROMETHEUS_IMAGE", g.options.prometheus_image, prometheus_command());
  out << "    volumes:\n      - \"" << kPrometheusVolume
      << ":/prometheus\"\n      - {type: \"tmpfs\", target: \"/tmp\"}\n"
         "    configs:\n      - {source: "
      << quote(stack_config_name("prometheus-config", prometheus_config(g))) << ", target: "
      << quote(kPrometheusConfigPath)
      << ", mode: 0444}\n"
         "    ports:\n      - {target: 9090, published: 9090, protocol: \"tcp\", mode: \"host\"}\n";
  write_prometheus_networks(out, g);
  stack_deploy(out, g);
}

void compose_observability_networks(std::ostream& out, const ServiceGraph& g) {
  if (!g.options.observability) return;
  for (const std::string& n : g.telemetry_networks) out << "  " << n << ":\n    internal: true\n";
  out << "  " << kJaegerUiNetwork << ": {}\n  " << kPrometheusUiNetwork << ": {}\n";
}

void stack_observability_networks(std::ostream& out, const ServiceGraph& g) {
  if (!g.options.observability) return;
  for (const std::string& n : g.telemetry_networks) {
    out << "  " << n << ":\n    driver: \"overlay\"\n    internal: true\n    attachable: true\n";
  }
  for (std::string_view n : {kJaegerUiNetwork, kPrometheusUiNetwork}) {
    out << "  " << n << ":\n    driver: \"overlay\"\n    attachable: true\n";
  }
}

void write_observability_volumes(std::ostream& out, const ServiceGraph& g) {
  if (g.options.observability) out << "  " << kPrometheusVolume << ": {}\n";
}

void stack_observability_configs(std::ostream& out, const ServiceGraph& g) {
  if (!g.options.observability) return;
  out << "configs:\n  " << quote(stack_config_name("jaeger-config", jaeger_config(g)))
      << ":\n    file: \"./observability/jaeger.yaml\"\n  "
      << quote(stack_config_name("prometheus-config", prometheus_config(g)))
      << ":\n    file: \"./observability/prometheus.yml\"\n";
}

}  // namespace snap::deploy_plan
