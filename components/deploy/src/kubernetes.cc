// kubernetes/: the app on a Kubernetes cluster, from the same service graph as the compose
// and stack files. Each service's objects are built as JSON values and written as YAML
// (yaml_documents), one file per service:
//   daemon persona   Deployment (+ a headless Service and an ingress policy when reached)
//   job persona      Job, named after the build digest: once per build, as with compose
//   command persona  kubernetes/commands/NAME.yaml, a Job template bin/kube/NAME creates
//   database         StatefulSet with a volume claim + a headless Service
// and, per service that reaches something, an egress policy. Least privilege is the
// compose file's: the NetworkPolicies allow exactly the pairs its networks allow (a
// default-deny policy isolates every pod of the app), and a service's Secret holds its own
// secrets only. Secrets carry no value here: bin/kube/apply creates them from
// runtime-secrets/ when it applies.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>

#include "kubernetes.h"
#include "snap/component_type.h"
#include "snap/episode.h"
#include "text.h"

namespace snap::deploy_plan {

namespace json = boost::json;

namespace {

// The data a database keeps, as a claim on the cluster's default storage class: enough for
// the examples; a kustomize patch sets another size or class.
constexpr std::string_view kDatabaseStorage = "1Gi";
// The probes' rhythm is the compose healthcheck's (kHealthcheck); its start period is a
// startup probe allowing as many failures as fit in it.
constexpr int kProbePeriod = kHealthcheck.interval;
constexpr int kProbeTimeout = kHealthcheck.timeout;
constexpr int kProbeFailures = kHealthcheck.retries;
constexpr int kStartupFailures = kHealthcheck.start_period / kHealthcheck.interval;
// A job's failed run is retried as often as the stack's `max_attempts`.
constexpr int kJobRetries = 3;
// The host name of a reached daemon's pods, in the subdomain of their headless Service:
// Kubernetes' DNS then answers listen.SERVICE (the name clients dial and the server
// listens at, Id::listen_name()) with the address of each ready pod.
constexpr std::string_view kListenHostname = "listen";
// A finished command's Job (and its pod, with the output) goes after this long, should
// bin/kube/NAME not be there to remove it.
constexpr int kCommandJobTtl = 600;

// ---- YAML ----

std::string yaml_scalar(const json::value& v) { return json::serialize(v); }

// A key written without quotes: one that every YAML version reads as this very string
// (not YAML 1.1's booleans, y, no, on...).
bool plain_key(std::string_view key) {
  if (key.empty() || !std::isalpha(static_cast<unsigned char>(key[0]))) return false;
  std::string lower;
  for (char c : key) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view word : {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}) {
    if (lower == word) return false;
  }
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '/') return false;
  }
  return true;
}

std::string yaml_key(std::string_view key) { return plain_key(key) ? std::string(key) : json::serialize(json::string(key)); }

bool nested(const json::value& v) {
  return (v.is_object() && !v.as_object().empty()) || (v.is_array() && !v.as_array().empty());
}

std::string inline_value(const json::value& v) {
  if (v.is_object()) return "{}";
  if (v.is_array()) return "[]";
  return yaml_scalar(v);
}

void write_value(std::ostream& out, const json::value& v, int indent);

// `first_inline`: the first key continues a line already started ("- ").
void write_object(std::ostream& out, const json::object& o, int indent, bool first_inline) {
  bool first = true;
  for (const auto& [key, value] : o) {
    if (!(first && first_inline)) out << std::string(indent, ' ');
    first = false;
    out << yaml_key(key) << ":";
    if (nested(value)) {
      out << "\n";
      write_value(out, value, indent + 2);
    } else {
      out << " " << inline_value(value) << "\n";
    }
  }
}

void write_array(std::ostream& out, const json::array& a, int indent) {
  for (const json::value& item : a) {
    out << std::string(indent, ' ') << "-";
    if (item.is_object() && !item.as_object().empty()) {
      out << " ";
      write_object(out, item.as_object(), indent + 2, true);
    } else if (nested(item)) {
      out << "\n";
      write_value(out, item, indent + 2);
    } else {
      out << " " << inline_value(item) << "\n";
    }
  }
}

void write_value(std::ostream& out, const json::value& v, int indent) {
  if (v.is_object()) {
    write_object(out, v.as_object(), indent, false);
  } else {
    write_array(out, v.as_array(), indent);
  }
}

// ---- names, labels, quantities ----

std::string hex_digest(const ServiceGraph& g) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(manifest_digest(Manifest{g.input.components})));
  return text;
}

// A memory size as Kubernetes takes it: the largest binary unit that divides it.
std::string quantity(std::uint64_t bytes) {
  for (const auto& [shift, unit] : {std::pair{30, "Gi"}, std::pair{20, "Mi"}, std::pair{10, "Ki"}}) {
    if (bytes % (std::uint64_t{1} << shift) == 0) return std::to_string(bytes >> shift) + unit;
  }
  return std::to_string(bytes);
}

// The label naming the service's pods: a persona's, or a database's.
std::string_view selector_key(const Service& s) {
  return s.kind == ServiceKind::kDatabase ? "snap/database" : "snap/persona";
}

// Pods carry the build digest beside their selector: a new build rolls them.
json::object pod_labels(const ServiceGraph& g, const Service& s) {
  json::object labels = selector_labels(g, s);
  labels["snap/build"] = hex_digest(g);
  return labels;
}

json::object metadata(const std::string& name, json::object labels) {
  return {{"name", name}, {"labels", std::move(labels)}};
}

json::object object_head(std::string_view api_version, std::string_view kind) {
  return {{"apiVersion", api_version}, {"kind", kind}};
}

std::optional<std::int64_t> port_of(const Service& s) {
  if (const auto* v = s.config.if_contains("port"); v && (v->is_int64() || v->is_uint64())) {
    return v->to_number<std::int64_t>();
  }
  return std::nullopt;
}

std::string_view port_name(const Service& s) { return s.kind == ServiceKind::kDatabase ? "postgres" : "http"; }

// A Service name is a DNS-1035 label: it starts with a letter.
void check_service_name(const Service& s) {
  if (!std::isalpha(static_cast<unsigned char>(s.name[0]))) {
    throw DeployError("deploy: " + s.component->id + " would be the Kubernetes Service \"" + s.name +
                      "\", and a Service's name starts with a letter; rename it");
  }
}

// ---- pods ----

json::array probe_command(const ServiceGraph& g, const Service& s) {
  if (s.kind == ServiceKind::kDatabase) {
    return {"pg_isready", "-h", "127.0.0.1", "-p", std::to_string(port_of(s).value_or(5432)), "-U",
            string_config(s, "user"), "-d", string_config(s, "database")};
  }
  return {"/app/" + g.app_file, "health", s.component->id};
}

json::object probe(const ServiceGraph& g, const Service& s, int failures) {
  return {{"exec", {{"command", probe_command(g, s)}}},
          {"periodSeconds", kProbePeriod},
          {"timeoutSeconds", kProbeTimeout},
          {"failureThreshold", failures}};
}

void add_probes(json::object& container, const ServiceGraph& g, const Service& s) {
  container["startupProbe"] = probe(g, s, kStartupFailures);
  container["readinessProbe"] = probe(g, s, kProbeFailures);
  container["livenessProbe"] = probe(g, s, kProbeFailures);
}

// The compose file's hardening. No pids limit: Kubernetes sets that per node (the
// kubelet's podPidsLimit), not per container.
json::object container_security() {
  return {{"allowPrivilegeEscalation", false},
          {"readOnlyRootFilesystem", true},
          {"capabilities", {{"drop", json::array{"ALL"}}}}};
}

// Requests equal to limits: the scheduler reserves what a container may use, so a node
// never promises more memory than it has.
json::object resources(const ServiceGraph& g, const Service& s) {
  const std::string memory = quantity(memory_limit(g, s));
  return {{"requests", {{"memory", memory}}}, {"limits", {{"memory", memory}}}};
}

// fsGroup: the secret files and the database's volume belong to the service's group, so
// its non-root user reads them.
json::object pod_security(const Service& s) {
  return {{"runAsNonRoot", true},
          {"runAsUser", s.uid},
          {"runAsGroup", s.uid},
          {"fsGroup", s.uid},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

// The service's Secret, at /run/secrets/NAME (as compose mounts them); group-readable
// (0440) for fsGroup, and by no one else.
json::object secret_volume(const ServiceGraph& g, const Service& s) {
  json::array items;
  for (const DeploySecretFile* f : secrets_of(g, s)) items.push_back({{"key", key_for(f->secret)}, {"path", f->secret}});
  return {{"name", "secrets"},
          {"secret", {{"secretName", kube_secret_name(s)}, {"defaultMode", 0440}, {"items", std::move(items)}}}};
}

json::object memory_volume(std::string_view name) { return {{"name", name}, {"emptyDir", {{"medium", "Memory"}}}}; }

json::object mount(std::string_view name, std::string_view path, bool read_only = false) {
  json::object m{{"name", name}, {"mountPath", path}};
  if (read_only) m["readOnly"] = true;
  return m;
}

json::object variable(std::string_view name, std::string value) {
  return {{"name", name}, {"value", std::move(value)}};
}

json::array database_environment(const Service& s) {
  return {variable("POSTGRES_USER", string_config(s, "user")), variable("POSTGRES_DB", string_config(s, "database")),
          variable("POSTGRES_PASSWORD_FILE", "/run/secrets/" + string_config(s, "password_secret")),
          variable("PGDATA", "/var/lib/postgresql/data/pgdata")};
}

// A recording API server's episodes (`build --record-requests`) go to a volume of the pod's
// own, as compose gives each server one; a pod's volume goes with the pod.
json::array episodes_environment(const ServiceGraph& g, const Service& s) {
  return {variable("SNAP_RECORD_REQUESTS", g.record_policy), variable("SNAP_EPISODES", episodes_path(s)),
          variable("SNAP_EPISODES_MAX_BYTES", size_text(EpisodeOptions{}.max_bytes))};
}

// The container: the app's image as one persona (its id is the entrypoint's argument), or
// the database's image. `arguments` stays last: a command's Job template ends in it.
json::object container(const ServiceGraph& g, const Service& s) {
  const bool database = s.kind == ServiceKind::kDatabase;
  json::object c{{"name", database ? "postgres" : "app"},
                 {"image", database ? g.options.postgres_image : "snap-" + g.app_file},
                 {"imagePullPolicy", "IfNotPresent"}};
  if (database) c["env"] = database_environment(s);
  if (s.records_requests) c["env"] = episodes_environment(g, s);
  // A rolling Deployment serves from pods of both builds, as a swarm does: strict
  // (docs/api.md, "Version skew").
  if (s.kind == ServiceKind::kDaemon && component_type_of(s.component->type) == ComponentType::kApiServer) {
    if (!c.contains("env")) c["env"] = json::array{};
    c["env"].as_array().push_back(variable("SNAP_VERSION_SKEW", "strict"));
  }
  if (const auto port = port_of(s); port && (database || s.kind == ServiceKind::kDaemon)) {
    c["ports"] = json::array{{{"name", port_name(s)}, {"containerPort", *port}, {"protocol", "TCP"}}};
  }
  c["resources"] = resources(g, s);
  c["securityContext"] = container_security();
  if (database || s.kind == ServiceKind::kDaemon) add_probes(c, g, s);
  json::array mounts{mount("tmp", "/tmp")};
  if (database) {
    mounts.push_back(mount("data", "/var/lib/postgresql/data"));
    mounts.push_back(mount("run", "/var/run/postgresql"));
  }
  if (s.records_requests) mounts.push_back(mount("episodes", episodes_path(s)));
  if (!secrets_of(g, s).empty()) mounts.push_back(mount("secrets", "/run/secrets", true));
  c["volumeMounts"] = std::move(mounts);
  if (!database) c["args"] = json::array{s.component->id};
  return c;
}

// The pod: no API token (the app never calls the Kubernetes API), no service variables,
// the service's user. `containers` stays last (see container()).
json::object pod_spec(const ServiceGraph& g, const Service& s) {
  json::object spec{{"serviceAccountName", kube_account_name(g)},
                    {"automountServiceAccountToken", false},
                    {"enableServiceLinks", false}};
  if (s.kind == ServiceKind::kJob || s.kind == ServiceKind::kCommand) spec["restartPolicy"] = "Never";
  if (s.kind == ServiceKind::kDaemon && g.reached.count(s.name)) {
    spec["hostname"] = kListenHostname;
    spec["subdomain"] = s.name;
  }
  if (s.kind == ServiceKind::kDatabase) spec["terminationGracePeriodSeconds"] = 30;
  spec["securityContext"] = pod_security(s);
  json::array volumes{memory_volume("tmp")};
  if (s.kind == ServiceKind::kDatabase) volumes.push_back(memory_volume("run"));
  if (s.records_requests) volumes.push_back({{"name", "episodes"}, {"emptyDir", json::object{}}});
  if (!secrets_of(g, s).empty()) volumes.push_back(secret_volume(g, s));
  spec["volumes"] = std::move(volumes);
  spec["containers"] = json::array{container(g, s)};
  return spec;
}

json::object pod_template(const ServiceGraph& g, const Service& s) {
  return {{"metadata", {{"labels", pod_labels(g, s)}}}, {"spec", pod_spec(g, s)}};
}

// ---- workloads and Services ----

// Rolling updates start a new pod before stopping an old one, so a server keeps serving.
json::value deployment(const ServiceGraph& g, const Service& s) {
  const auto it = g.options.replicas.find(s.name);
  json::object o = object_head("apps/v1", "Deployment");
  o["metadata"] = metadata(s.name, selector_labels(g, s));
  o["spec"] = {{"replicas", it == g.options.replicas.end() ? 1u : it->second},
               {"selector", {{"matchLabels", selector_labels(g, s)}}},
               {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}}},
               {"template", pod_template(g, s)}};
  return o;
}

// One replica: its data is one volume.
json::value stateful_set(const ServiceGraph& g, const Service& s) {
  json::object claim{{"metadata", {{"name", "data"}, {"labels", selector_labels(g, s)}}},
                     {"spec",
                      {{"accessModes", json::array{"ReadWriteOnce"}},
                       {"resources", {{"requests", {{"storage", kDatabaseStorage}}}}}}}};
  json::object o = object_head("apps/v1", "StatefulSet");
  o["metadata"] = metadata(s.name, selector_labels(g, s));
  o["spec"] = {{"serviceName", s.name},
               {"replicas", 1},
               {"selector", {{"matchLabels", selector_labels(g, s)}}},
               {"template", pod_template(g, s)},
               {"volumeClaimTemplates", json::array{std::move(claim)}}};
  return o;
}

// Named after the build: applying the same build again leaves the finished Job alone, and a
// new build's Job runs once more.
json::value job(const ServiceGraph& g, const Service& s) {
  const std::string digest = hex_digest(g).substr(0, 8);
  std::string name = s.name.substr(0, 63 - 1 - digest.size());
  while (!name.empty() && name.back() == '-') name.pop_back();
  json::object o = object_head("batch/v1", "Job");
  o["metadata"] = metadata(name + "-" + digest, pod_labels(g, s));
  o["spec"] = {{"backoffLimit", kJobRetries}, {"template", pod_template(g, s)}};
  return o;
}

// Headless: the name answers with each ready pod's address, which the typed client spreads
// its calls over (as with swarm's dnsrr), and it is the subdomain of listen.NAME.
json::value headless_service(const ServiceGraph& g, const Service& s) {
  check_service_name(s);
  json::object spec{{"clusterIP", "None"}, {"selector", selector_labels(g, s)}};
  if (const auto port = port_of(s)) {
    spec["ports"] = json::array{{{"name", port_name(s)}, {"port", *port}, {"targetPort", *port}, {"protocol", "TCP"}}};
  }
  json::object o = object_head("v1", "Service");
  o["metadata"] = metadata(s.name, selector_labels(g, s));
  o["spec"] = std::move(spec);
  return o;
}

// ---- network policies ----

// A policy over the pods `selected` selects: `rules` of each of its types (no rule of a
// type isolates the pods that way and allows nothing).
json::object network_policy(const ServiceGraph& g, const std::string& name, json::object selected,
                            std::initializer_list<std::pair<std::string_view, json::array>> rules) {
  json::object spec{{"podSelector", {{"matchLabels", std::move(selected)}}}};
  json::array types;
  for (const auto& [type, list] : rules) types.push_back(json::string(type));
  spec["policyTypes"] = std::move(types);
  for (const auto& [type, list] : rules) {
    if (!list.empty()) spec[type == "Ingress" ? "ingress" : "egress"] = list;
  }
  json::object o = object_head("networking.k8s.io/v1", "NetworkPolicy");
  o["metadata"] = metadata(name, app_labels(g));
  o["spec"] = std::move(spec);
  return o;
}

json::array ports_of(const Service& target) {
  if (const auto port = port_of(target)) return {{{"protocol", "TCP"}, {"port", *port}}};
  return {};
}

// Ingress to a reached service: from the pods of the personas that use it, on its port.
json::value ingress_policy(const ServiceGraph& g, const Service& s) {
  json::array clients;
  for (const Service& c : g.services) {
    if (std::find(c.targets.begin(), c.targets.end(), s.name) != c.targets.end()) clients.push_back(json::string(c.name));
  }
  json::object from{{"matchLabels", app_labels(g)},
                    {"matchExpressions", json::array{{{"key", "snap/persona"}, {"operator", "In"}, {"values", clients}}}}};
  json::object rule{{"from", json::array{{{"podSelector", std::move(from)}}}}};
  if (json::array ports = ports_of(s); !ports.empty()) rule["ports"] = std::move(ports);
  return network_policy(g, s.name + "-ingress", selector_labels(g, s), {{"Ingress", {std::move(rule)}}});
}

const Service& service_named(const ServiceGraph& g, const std::string& name) {
  const auto it = std::find_if(g.services.begin(), g.services.end(), [&](const Service& s) { return s.name == name; });
  if (it == g.services.end()) throw std::logic_error("deploy: no service " + name);
  return *it;
}

// Egress from a service to what it reaches, each on its port.
json::value egress_policy(const ServiceGraph& g, const Service& s) {
  json::array rules;
  for (const std::string& name : s.targets) {
    const Service& target = service_named(g, name);
    json::object rule{{"to", json::array{{{"podSelector", {{"matchLabels", selector_labels(g, target)}}}}}}};
    if (json::array ports = ports_of(target); !ports.empty()) rule["ports"] = std::move(ports);
    rules.push_back(std::move(rule));
  }
  return network_policy(g, s.name + "-egress", selector_labels(g, s), {{"Egress", std::move(rules)}});
}

// Every pod of the app is isolated both ways; what the other policies allow is all it
// gets, and name lookups (the cluster's DNS, in its own namespace).
std::vector<json::value> app_objects(const ServiceGraph& g) {
  json::object account = object_head("v1", "ServiceAccount");
  account["metadata"] = metadata(kube_account_name(g), app_labels(g));
  account["automountServiceAccountToken"] = false;
  json::object dns_peer{{"namespaceSelector", json::object{}}, {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}};
  json::array dns_ports{{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}};
  json::array dns_rules{{{"to", json::array{std::move(dns_peer)}}, {"ports", std::move(dns_ports)}}};
  const std::string app = kube_account_name(g);
  return {std::move(account),
          network_policy(g, app + "-default-deny", app_labels(g), {{"Ingress", {}}, {"Egress", {}}}),
          network_policy(g, app + "-dns", app_labels(g), {{"Egress", std::move(dns_rules)}})};
}

std::vector<json::value> service_objects(const ServiceGraph& g, const Service& s) {
  std::vector<json::value> out;
  switch (s.kind) {
    case ServiceKind::kDaemon:
      out.push_back(deployment(g, s));
      if (g.reached.count(s.name)) out.push_back(headless_service(g, s));
      break;
    case ServiceKind::kDatabase:
      out.push_back(stateful_set(g, s));
      out.push_back(headless_service(g, s));
      break;
    case ServiceKind::kJob:
      out.push_back(job(g, s));
      break;
    case ServiceKind::kCommand:
      break;  // kubernetes/commands/NAME.yaml, created by bin/kube/NAME
  }
  if (g.reached.count(s.name)) out.push_back(ingress_policy(g, s));
  if (!s.targets.empty()) out.push_back(egress_policy(g, s));
  return out;
}

std::string yaml_file(const ServiceGraph& g, std::string_view about, const std::vector<json::value>& objects) {
  return header(g.input.app_name) + std::string(about) + yaml_documents(objects);
}

std::string kustomization(const ServiceGraph& g, const std::vector<std::string>& resources) {
  std::ostringstream out;
  out << header(g.input.app_name)
      << "# Apply with bin/kube/apply, which first creates each service's Secret from runtime-secrets/\n"
         "# (their values are in no file here) and replaces the images by $SNAP_IMAGE and\n"
         "# $SNAP_POSTGRES_IMAGE when they are set; or list this directory in an overlay of your own.\n"
         "# Commands are not here: bin/kube/NAME creates a Job from commands/NAME.yaml per run.\n";
  json::array files;
  for (const std::string& r : resources) files.push_back(json::string(r));
  out << yaml_documents({json::object{{"apiVersion", "kustomize.config.k8s.io/v1beta1"},
                                      {"kind", "Kustomization"},
                                      {"resources", std::move(files)}}});
  return out.str();
}

}  // namespace

std::string yaml_documents(const std::vector<json::value>& objects) {
  std::ostringstream out;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (i != 0) out << "---\n";
    write_object(out, objects[i].as_object(), 0, false);
  }
  return out.str();
}

std::string label_value(std::string_view text) {
  std::string out = key_for(text).substr(0, 63);
  const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  while (!out.empty() && !alnum(out.back())) out.pop_back();
  std::size_t start = 0;
  while (start < out.size() && !alnum(out[start])) ++start;
  out = out.substr(start);
  return out.empty() ? "app" : out;
}

std::string kube_secret_name(const Service& s) { return s.name + "-secrets"; }

std::string kube_account_name(const ServiceGraph& g) {
  std::string name;
  for (char c : g.input.app_name) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  }
  return label_value(name);
}

json::object app_labels(const ServiceGraph& g) { return {{"snap/app", label_value(g.input.app_name)}}; }

json::object selector_labels(const ServiceGraph& g, const Service& s) {
  json::object labels = app_labels(g);
  labels[selector_key(s)] = s.name;
  return labels;
}

std::string kube_command_template(const ServiceGraph& g, const Service& s) {
  json::object o = object_head("batch/v1", "Job");
  o["metadata"] = {{"generateName", s.name.substr(0, 52) + "-run-"}, {"labels", pod_labels(g, s)}};
  o["spec"] = {{"backoffLimit", 0}, {"ttlSecondsAfterFinished", kCommandJobTtl}, {"template", pod_template(g, s)}};
  return yaml_file(g,
                   "# The Job that bin/kube/" + s.name + " creates for one run of the command " + s.component->id +
                       " (its\n# arguments follow the last line). Not applied by itself.\n",
                   {std::move(o)});
}

std::string kube_argument_prefix(const std::string& command_template) {
  const std::size_t line = command_template.rfind('\n', command_template.size() - 2) + 1;
  return command_template.substr(line, command_template.find('-', line) + 2 - line);
}

std::vector<DeployFile> kubernetes_files(const ServiceGraph& g) {
  std::vector<DeployFile> out;
  std::vector<std::string> resources{"app.yaml"};
  out.push_back({"kubernetes/app.yaml",
                 yaml_file(g,
                           "# The app's ServiceAccount (no API token) and the policies every pod of it is under:\n"
                           "# nothing in or out but name lookups, beyond what each service's own policies allow.\n",
                           app_objects(g))});
  for (const Service& s : g.services) {
    if (s.kind == ServiceKind::kCommand) out.push_back({"kubernetes/commands/" + s.name + ".yaml", kube_command_template(g, s)});
    const std::vector<json::value> objects = service_objects(g, s);
    if (objects.empty()) continue;
    resources.push_back(s.name + ".yaml");
    out.push_back({"kubernetes/" + s.name + ".yaml", yaml_file(g, "# The " + s.component->type + " " + s.component->id + ".\n", objects)});
  }
  out.push_back({"kubernetes/kustomization.yaml", kustomization(g, resources)});
  out.push_back({"bin/kube/apply", kube_apply_script(g), true});
  for (const Service& s : g.services) {
    if (s.kind == ServiceKind::kCommand) out.push_back({"bin/kube/" + s.name, kube_command_script(g, s), true});
  }
  return out;
}

}  // namespace snap::deploy_plan

namespace snap {

std::vector<DeployFile> plan_kubernetes(const DeployInput& input, const DeployOptions& given) {
  const DeployOptions options = deploy_plan::with_published_in_code(input, given);
  return deploy_plan::kubernetes_files(deploy_plan::build_service_graph(input, options));
}

}  // namespace snap
