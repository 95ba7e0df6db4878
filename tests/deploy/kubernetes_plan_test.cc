// The Kubernetes manifests as a pure function of the app: golden files for a small app
// with every kind of service, byte-identical output, the NetworkPolicies evaluated against
// what compose's networks allow, each Secret mounted only where it is used, and no secret
// value anywhere. SNAP_UPDATE_GOLDEN=1 rewrites the golden files (as for deploy_plan_test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kubernetes_support.h"
#include "snap/deploy.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
namespace json = boost::json;

// shop: an API server with a store in a database, a worker with a supplied secret, a
// job and a command that call the API server (deploy_plan_test's app).
DeployInput shop() {
  DeployInput in;
  in.app_name = "shop";
  in.components = {
      {"shop", "App", "", "{}", {}, {}},
      {"shop.db", "Postgres", "",
       R"({"user":"snap","database":"snap","port":5432,"password_secret":"db.password","service":"db"})",
       {"shop.db.password"}, {}},
      {"shop.db.password", "Password", "", "{}", {}, {"db.password"}},
      {"shop.orders", "KeyValueStore", "", R"({"table":"shop_orders_1a2b3c4d","indexes":{}})", {"shop.db"}, {}},
      {"shop.api", "ApiServer", "daemon", R"({"port":35000})", {"shop.orders"}, {}},
      {"shop.api.port", "Port", "", R"({"port":35000})", {}, {}},
      {"shop.stripe-key", "Secret", "", "{}", {}, {"stripe-key"}},
      {"shop.mailer", "Worker", "daemon", R"({"interval_ms":1000})", {"shop.stripe-key"}, {}},
      {"shop.seed", "Persona", "job", "{}", {"shop.api"}, {}},
      {"shop.report", "Persona", "command", "{}", {"shop.api"}, {}},
  };
  return in;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void expect_golden(const std::string& name, const std::string& content) {
  const fs::path golden = fs::path(SNAP_DEPLOY_GOLDEN_DIR) / name;
  if (std::getenv("SNAP_UPDATE_GOLDEN") != nullptr) {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << content;
  }
  EXPECT_EQ(content, read_file(golden)) << "golden " << golden << " (SNAP_UPDATE_GOLDEN=1 rewrites it)";
}

const DeployFile& file(const std::vector<DeployFile>& files, const std::string& path) {
  for (const DeployFile& f : files) {
    if (f.path == path) return f;
  }
  throw std::runtime_error("no file " + path);
}

// The reach compose's networks give, as (client, service) pairs.
kube_test::Pairs compose_pairs(const DeployInput& in) {
  kube_test::Pairs out;
  for (const auto& [from, targets] : plan_deployment(in, {}).reaches) {
    for (const std::string& to : targets) out.emplace(from, to);
  }
  return out;
}

TEST(KubernetesPlan, GeneratedFilesMatchTheGoldenFiles) {
  const std::vector<DeployFile> files = plan_kubernetes(shop(), {});
  std::vector<std::string> paths;
  for (const DeployFile& f : files) {
    paths.push_back(f.path);
    expect_golden("kubernetes/shop/" + f.path, f.content);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"kubernetes/app.yaml", "kubernetes/db.yaml", "kubernetes/api.yaml",
                                             "kubernetes/mailer.yaml", "kubernetes/seed.yaml", "kubernetes/commands/report.yaml",
                                             "kubernetes/report.yaml", "kubernetes/kustomization.yaml", "bin/kube/apply",
                                             "bin/kube/report"}));
  EXPECT_TRUE(file(files, "bin/kube/apply").executable);
  EXPECT_TRUE(file(files, "bin/kube/report").executable);
  EXPECT_FALSE(file(files, "kubernetes/api.yaml").executable);
}

TEST(KubernetesPlan, TheSameInputGivesByteIdenticalFiles) {
  const std::vector<DeployFile> a = plan_kubernetes(shop(), {});
  const std::vector<DeployFile> b = plan_kubernetes(shop(), {});
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].path, b[i].path);
    EXPECT_EQ(a[i].content, b[i].content) << a[i].path;
  }
}

// Every manifest reads back as the objects it was written from (the test's reader is the
// one the other tests use), and each one is a YAML document with the usual header.
TEST(KubernetesPlan, EveryManifestReadsAsKubernetesObjects) {
  std::size_t objects = 0;
  for (const DeployFile& f : plan_kubernetes(shop(), {})) {
    if (f.path.rfind("kubernetes/", 0) != 0) continue;
    EXPECT_THAT(f.content, ::testing::StartsWith("# Written by `shop build` (snapshot)")) << f.path;
    for (const json::value& doc : kube_test::read_yaml(f.content)) {
      EXPECT_TRUE(doc.as_object().contains("apiVersion")) << f.path;
      EXPECT_TRUE(doc.as_object().contains("kind")) << f.path;
      ++objects;
    }
  }
  EXPECT_EQ(objects, 16u);  // the kustomization is one too
}

TEST(KubernetesPlan, NetworkPoliciesAllowExactlyWhatComposeNetworksAllow) {
  const DeployInput in = shop();
  const kube_test::Cluster cluster = kube_test::cluster_of(plan_kubernetes(in, {}), "shop");
  ASSERT_EQ(cluster.pods.size(), 5u);  // db, api, mailer, seed, and report's template
  EXPECT_EQ(kube_test::reachable_pairs(cluster), compose_pairs(in));
  EXPECT_EQ(kube_test::reachable_pairs(cluster),
            (kube_test::Pairs{{"api", "db"}, {"seed", "api"}, {"report", "api"}}));
  // Only on the service's own port: the API server's 35000, not another.
  const auto pod = [&](const std::string& service) {
    for (const kube_test::Pod& p : cluster.pods) {
      if (p.service == service) return p;
    }
    throw std::runtime_error("no pod " + service);
  };
  EXPECT_TRUE(kube_test::connection_allowed(cluster.policies, pod("seed"), pod("api"), 35000));
  EXPECT_FALSE(kube_test::connection_allowed(cluster.policies, pod("seed"), pod("api"), 8080));
  EXPECT_FALSE(kube_test::connection_allowed(cluster.policies, pod("seed"), pod("db"), 5432));
}

// Every pod may look names up (the cluster's DNS), and nothing outside the app reaches it
// or is reached from it: the default-deny policy isolates each pod both ways.
TEST(KubernetesPlan, PodsReachTheClusterDnsAndNothingOutsideTheApp) {
  const kube_test::Cluster cluster = kube_test::cluster_of(plan_kubernetes(shop(), {}), "shop");
  const kube_test::Pod dns{"kube-dns", "kube-system", {{"k8s-app", "kube-dns"}}, {{"dns", 53}}, {53}};
  const kube_test::Pod stranger{"stranger", "shop", {{"app", "other"}}, {{"http", 80}}, {80}};
  for (const kube_test::Pod& pod : cluster.pods) {
    EXPECT_TRUE(kube_test::connection_allowed(cluster.policies, pod, dns, 53, "UDP")) << pod.service;
    EXPECT_TRUE(kube_test::connection_allowed(cluster.policies, pod, dns, 53, "TCP")) << pod.service;
    EXPECT_FALSE(kube_test::connection_allowed(cluster.policies, pod, stranger, 80)) << pod.service;
    for (std::int64_t port : pod.ports) {
      EXPECT_FALSE(kube_test::connection_allowed(cluster.policies, stranger, pod, port)) << pod.service;
    }
  }
}

// A service's clients dial listen.NAME (the API server) or NAME (a database): the first is
// the host name of its pods in the subdomain of a headless Service that selects them.
TEST(KubernetesPlan, ReachedServicesAreHeadlessAndTheirPodsAnswerAsListenName) {
  const kube_test::Cluster cluster = kube_test::cluster_of(plan_kubernetes(shop(), {}), "shop");
  std::set<std::string> services;
  for (const json::object& s : cluster.services) {
    const std::string name(s.at("metadata").at("name").as_string());
    services.insert(name);
    EXPECT_EQ(s.at("spec").at("clusterIP"), "None") << name;
    bool selects_its_pods = false;
    for (const kube_test::Pod& p : cluster.pods) {
      if (kube_test::selects({{"matchLabels", s.at("spec").at("selector")}}, p.labels)) {
        EXPECT_EQ(p.service, name);
        selects_its_pods = true;
      }
    }
    EXPECT_TRUE(selects_its_pods) << name;
  }
  EXPECT_EQ(services, (std::set<std::string>{"api", "db"}));
  for (const json::object& o : cluster.objects) {
    if (o.at("kind") != "Deployment" || o.at("metadata").at("name") != "api") continue;
    const json::object& spec = o.at("spec").at("template").at("spec").as_object();
    EXPECT_EQ(spec.at("hostname"), "listen");
    EXPECT_EQ(spec.at("subdomain"), "api");
  }
}

// A Secret is mounted only into the pods of the services whose persona receives it, and
// every pod runs hardened as compose runs it.
TEST(KubernetesPlan, SecretsAreMountedOnlyWhereUsedAndPodsAreHardened) {
  const kube_test::Cluster cluster = kube_test::cluster_of(plan_kubernetes(shop(), {}), "shop");
  std::map<std::string, std::set<std::string>> mounted;
  for (const json::object& o : cluster.objects) {
    const json::value* spec = o.if_contains("spec");
    const json::value* tmpl = spec != nullptr ? spec->as_object().if_contains("template") : nullptr;
    if (tmpl == nullptr) continue;
    const json::object& pod = tmpl->at("spec").as_object();
    const std::string service = kube_test::service_label(tmpl->at("metadata").at("labels").as_object());
    mounted[service];
    for (const json::value& v : pod.at("volumes").as_array()) {
      if (const json::value* secret = v.as_object().if_contains("secret")) {
        EXPECT_EQ(secret->at("secretName"), json::value(service + "-secrets"));
        for (const json::value& item : secret->at("items").as_array()) mounted[service].insert(std::string(item.at("path").as_string()));
      }
    }
    const json::object& security = pod.at("securityContext").as_object();
    EXPECT_EQ(security.at("runAsNonRoot"), true) << service;
    EXPECT_NE(security.at("runAsUser"), 0) << service;
    EXPECT_EQ(pod.at("automountServiceAccountToken"), false) << service;
    const json::object& container = pod.at("containers").at(0).as_object();
    EXPECT_EQ(container.at("securityContext"),
              (json::value{{"allowPrivilegeEscalation", false},
                           {"readOnlyRootFilesystem", true},
                           {"capabilities", {{"drop", json::array{"ALL"}}}}}))
        << service;
    EXPECT_EQ(container.at("resources").at("limits").at("memory"), "1Gi") << service;
    EXPECT_EQ(pod.at("volumes").at(0), (json::value{{"name", "tmp"}, {"emptyDir", {{"medium", "Memory"}}}})) << service;
  }
  EXPECT_EQ(mounted, (std::map<std::string, std::set<std::string>>{{"db", {"db.password"}},
                                                                   {"api", {"db.password"}},
                                                                   {"mailer", {"stripe-key"}},
                                                                   {"seed", {}},
                                                                   {"report", {}}}));
}

// Every file holds paths to the secrets' files, never a value: bin/kube/apply reads them
// as it applies. (The kube-apiserver test checks the same for a real build's files.)
TEST(KubernetesPlan, NoSecretIsBakedIntoAFile) {
  const std::string apply = file(plan_kubernetes(shop(), {}), "bin/kube/apply").content;
  EXPECT_THAT(apply, ::testing::ContainsRegex("secret 'db-secrets' 'db.password' 'runtime-secrets/shop_db_[0-9a-f]{8}/db.password'"));
  EXPECT_THAT(apply, ::testing::ContainsRegex("secret 'mailer-secrets' 'stripe-key' 'runtime-secrets/shop_mailer_[0-9a-f]{8}/stripe-key'"));
  for (const DeployFile& f : plan_kubernetes(shop(), {})) {
    EXPECT_EQ(f.content.find("kind: Secret\n"), std::string::npos) << f.path;
  }
}

// Options carry over: replicas, per-service memory limits, the database image.
TEST(KubernetesPlan, OptionsCarryOverFromTheBuild) {
  DeployOptions options;
  options.replicas["api"] = 3;
  options.memory_limits_bytes["api"] = std::uint64_t{256} << 20;
  options.postgres_image = "registry.example/pg:15";
  const std::vector<DeployFile> files = plan_kubernetes(shop(), options);
  const std::string api = file(files, "kubernetes/api.yaml").content;
  EXPECT_THAT(api, HasSubstr("  replicas: 3\n"));
  EXPECT_THAT(api, HasSubstr("requests:\n              memory: \"256Mi\"\n"));
  EXPECT_THAT(file(files, "kubernetes/db.yaml").content, HasSubstr("image: \"registry.example/pg:15\"\n"));
  // The override entry names the image without its tag, as kustomize matches it.
  EXPECT_THAT(file(files, "bin/kube/apply").content, HasSubstr("image 'registry.example/pg' \"$SNAP_POSTGRES_IMAGE\""));
}

TEST(KubernetesPlan, AServiceNameThatIsNoDns1035LabelIsADeployError) {
  DeployInput in = shop();
  in.components[4].id = "shop.1api";
  in.components[8].uses = {"shop.1api"};
  try {
    plan_kubernetes(in, {});
    FAIL() << "no DeployError";
  } catch (const DeployError& e) {
    EXPECT_THAT(e.what(), HasSubstr("shop.1api would be the Kubernetes Service \"1api\", and a Service's name starts with a letter"));
  }
}

}  // namespace
}  // namespace snap
