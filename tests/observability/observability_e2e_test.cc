// `build --observability` end to end on the machine's real Docker engine: the customer
// example deployed with docker-compose, with a Jaeger and a Prometheus of its own (images
// built here from the Jaeger binary scripts/build-jaeger.sh made and Debian's prometheus:
// nothing can be pulled). The client job posts and reads a customer; the command asks for
// a customer that does not exist. Then:
//  - Jaeger's query API holds the job's trace: job span -> client span -> server span ->
//    store span, with each side's service name, and the failed command's trace with its
//    error marked;
//  - Prometheus scraped the API server and counts the requests per endpoint and status;
//  - each container reaches what its persona uses, plus Jaeger, and Prometheus reaches
//    the server's metrics address, and nothing else;
//  - every log line the services wrote is JSON, and its trace ids are traces in Jaeger.
//
// Everything it creates is named after one unique project/tag and removed at the end,
// whether the tests pass or not. Skipped, with the reason, where no Docker engine answers
// or Jaeger or Prometheus is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "e2e_support.h"
#include "test_jaeger.h"
#include "test_prometheus.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;
using e2e::lines;
using e2e::must;
using e2e::trim;
using testing::ProcessResult;

// Bounds for a broken deployment, not waits: every poll ends as soon as its condition holds.
constexpr auto kArrivalBound = std::chrono::seconds(90);
constexpr auto kPollInterval = std::chrono::milliseconds(500);

struct Deployment : e2e::ComposeWork {
  std::string jaeger_url, prometheus_url;  // http://127.0.0.1:PORT, published by compose
  ProcessResult command;                   // bin/get-customer for a customer that is not there

  std::string published(const std::string& service, const std::string& port) const {
    const ProcessResult r = compose({"port", service, port}, 30);
    must(r, "docker-compose port " + service + " " + port);
    return "http://" + trim(r.out);
  }
};

Deployment* deployment = nullptr;

json::value get_json(const std::string& url) {
  const testing::HttpResponse r = testing::http_request("GET", url);
  if (r.status != 200) throw std::runtime_error("GET " + url + ": " + std::to_string(r.status) + " " + r.body);
  return json::parse(r.body);
}

// Polls `probe` until it returns true, within kArrivalBound.
bool eventually(const std::function<bool()>& probe) {
  const auto deadline = std::chrono::steady_clock::now() + kArrivalBound;
  for (;;) {
    try {
      if (probe()) return true;
    } catch (const std::exception&) {
      // not up yet: try again
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// One span of a Jaeger trace, as the query API gives it.
struct JaegerSpan {
  std::string id, parent, operation, service, kind;
  std::map<std::string, std::string> tags;  // values as text
  std::string tag(const std::string& key) const {
    const auto it = tags.find(key);
    return it == tags.end() ? "" : it->second;
  }
};

std::vector<JaegerSpan> spans_of(const json::value& trace) {
  std::map<std::string, std::string> services;
  for (const auto& [pid, process] : trace.at("processes").as_object()) {
    services[std::string(pid)] = std::string(process.at("serviceName").as_string());
  }
  std::vector<JaegerSpan> out;
  for (const json::value& s : trace.at("spans").as_array()) {
    JaegerSpan span;
    span.id = std::string(s.at("spanID").as_string());
    span.operation = std::string(s.at("operationName").as_string());
    span.service = services[std::string(s.at("processID").as_string())];
    for (const json::value& ref : s.at("references").as_array()) {
      if (ref.at("refType") == "CHILD_OF") span.parent = std::string(ref.at("spanID").as_string());
    }
    for (const json::value& tag : s.at("tags").as_array()) {
      const json::value& v = tag.at("value");
      span.tags[std::string(tag.at("key").as_string())] =
          v.is_string() ? std::string(v.as_string()) : json::serialize(v);
    }
    span.kind = span.tag("span.kind");
    out.push_back(std::move(span));
  }
  return out;
}

// The traces Jaeger holds for `service`.
std::vector<std::vector<JaegerSpan>> traces_of(const std::string& service) {
  std::vector<std::vector<JaegerSpan>> out;
  const json::value body = get_json(deployment->jaeger_url + "/api/traces?service=" + service + "&limit=50");
  for (const json::value& trace : body.at("data").as_array()) out.push_back(spans_of(trace));
  return out;
}

const JaegerSpan* find_span(const std::vector<JaegerSpan>& spans, const std::function<bool(const JaegerSpan&)>& match) {
  for (const JaegerSpan& s : spans) {
    if (match(s)) return &s;
  }
  return nullptr;
}

std::vector<const JaegerSpan*> children_of(const std::vector<JaegerSpan>& spans, const JaegerSpan& parent) {
  std::vector<const JaegerSpan*> out;
  for (const JaegerSpan& s : spans) {
    if (s.parent == parent.id) out.push_back(&s);
  }
  return out;
}

class ObservabilityEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    deployment = new Deployment;
    Deployment& d = *deployment;
    if (d.docker({"info", "--format", "{{.ServerVersion}}"}, 30).exit_code != 0) {
      d.skip_reason = "no Docker engine reachable";
      return;
    }
    if (d.run({"/usr/bin/env", "docker-compose", "version", "--short"}, 30).exit_code != 0) {
      d.skip_reason = "docker-compose is not installed";
      return;
    }
    const std::optional<std::string> jaeger = testing::TestJaeger::binary();
    if (!jaeger) {
      d.skip_reason = "no Jaeger binary configured (scripts/build-jaeger.sh; cmake -DSNAP_JAEGER=PATH)";
      return;
    }
    const std::optional<std::string> prometheus = testing::TestPrometheus::binary();
    if (!prometheus) {
      d.skip_reason = "no prometheus binary (apt-get install prometheus)";
      return;
    }
    std::random_device random;
    const std::string unique = std::to_string(::getpid()) + "x" + std::to_string(random() % 100000);
    d.project = "snapobs" + unique;
    d.build_customer_and_images(unique, "snaptest-obs-customer", "snaptest-obs-postgres", "snap-observability",
                                {"--observability"});
    const std::string jaeger_image = "snaptest-obs-jaeger-" + unique + ":probe";
    const std::string prometheus_image = "snaptest-obs-prometheus-" + unique + ":probe";
    d.images.push_back(jaeger_image);
    d.images.push_back(prometheus_image);
    d.env["SNAP_PROMETHEUS"] = *prometheus;
    // The probe as /probe in both (the deploy suites' copy of it, named so).
    must(d.run({SNAP_OBSERVABILITY_IMAGES_SCRIPT, *jaeger, jaeger_image, prometheus_image,
                (d.work / "probe" / "probe").string()}),
         "building the Jaeger and Prometheus images");
    d.env["SNAP_JAEGER_IMAGE"] = jaeger_image;
    d.env["SNAP_PROMETHEUS_IMAGE"] = prometheus_image;
    // Empty: Docker picks free host ports (tests run in parallel).
    d.env["SNAP_JAEGER_PORT"] = "";
    d.env["SNAP_PROMETHEUS_PORT"] = "";
    must(d.compose({"up", "-d"}, 300), "docker-compose up");
    d.jaeger_url = d.published("jaeger", "16686");
    d.prometheus_url = d.published("prometheus", "9090");

    // The client job's run, then the command for a customer that does not exist.
    const ProcessResult waited = d.docker({"wait", d.container_of("example-client")}, 180);
    must(waited, "docker wait example-client");
    if (trim(waited.out) != "0") {
      const ProcessResult logs = d.compose({"logs", "--no-color", "example-client"}, 30);
      throw std::runtime_error("the client job failed: " + logs.out + logs.err);
    }
    auto env = d.env;
    env["COMPOSE_PROJECT_NAME"] = d.project;
    testing::ProcessOptions options;
    options.environment = env;
    options.working_directory = d.out;
    d.command = testing::run_process({"/usr/bin/timeout", "180", (d.out / "bin" / "get-customer").string(), "404404"},
                                     options);
  }

  static void TearDownTestSuite() {
    Deployment& d = *deployment;
    if (d.available) d.compose({"down", "-v", "--remove-orphans"}, 180);
    d.remove_images_and_work();
    delete deployment;
    deployment = nullptr;
  }

  void SetUp() override {
    if (!deployment->available) GTEST_SKIP() << deployment->skip_reason;
  }

  static Deployment& d() { return *deployment; }
};

TEST_F(ObservabilityEndToEnd, TheClientJobsTraceRunsFromTheJobThroughTheServerIntoTheStore) {
  // The job's run: its span, a client span per call, the server's span of each, and
  // under the server span the store operation.
  std::vector<JaegerSpan> trace;
  std::string last;
  const bool found = eventually([&] {
    for (auto& t : traces_of("example-client")) {
      last = std::to_string(t.size()) + " spans";
      if (t.size() >= 7) {
        trace = std::move(t);
        return true;
      }
    }
    return false;
  });
  ASSERT_TRUE(found) << "no complete trace of example-client in Jaeger (last: " << last << ")";
  const JaegerSpan* job = find_span(trace, [](const JaegerSpan& s) { return s.parent.empty(); });
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->operation, "job example-client");
  EXPECT_EQ(job->service, "example-client");
  std::set<std::string> calls;
  for (const JaegerSpan* client : children_of(trace, *job)) {
    calls.insert(client->operation);
    EXPECT_EQ(client->kind, "client") << client->operation;
    EXPECT_EQ(client->service, "example-client") << client->operation;
    const std::vector<const JaegerSpan*> handled = children_of(trace, *client);
    ASSERT_EQ(handled.size(), 1u) << client->operation;
    const JaegerSpan& server = *handled.front();
    EXPECT_EQ(server.kind, "server");
    EXPECT_EQ(server.service, "customer-server-api");
    EXPECT_EQ(server.operation, client->operation);
    const std::vector<const JaegerSpan*> stored = children_of(trace, server);
    ASSERT_EQ(stored.size(), 1u) << server.operation;
    EXPECT_EQ(stored.front()->service, "customer-server-api");
    EXPECT_EQ(stored.front()->kind, "client");
    EXPECT_EQ(stored.front()->tag("db.system.name"), "postgresql");
    EXPECT_EQ(stored.front()->tag("db.operation.name"), client->operation.rfind("POST", 0) == 0 ? "set" : "get");
  }
  EXPECT_EQ(calls, (std::set<std::string>{"POST /api/customer", "GET /api/customer/{id}"}));
}

TEST_F(ObservabilityEndToEnd, AGetOfAMissingCustomerIsAnErrorSpanWithItsCode) {
  EXPECT_NE(d().command.exit_code, 0) << d().command.out;
  EXPECT_THAT(d().command.err, HasSubstr("no customer 404404"));
  std::vector<JaegerSpan> trace;
  ASSERT_TRUE(eventually([&] {
    for (auto& t : traces_of("get-customer")) {
      if (t.size() >= 3) {
        trace = std::move(t);
        return true;
      }
    }
    return false;
  })) << "no trace of get-customer in Jaeger";
  const JaegerSpan* command = find_span(trace, [](const JaegerSpan& s) { return s.parent.empty(); });
  ASSERT_NE(command, nullptr);
  EXPECT_EQ(command->operation, "command get-customer");
  EXPECT_EQ(command->tag("error"), "true");
  // The command's call (the store's span under the server is a client span too).
  const JaegerSpan* client = find_span(trace, [](const JaegerSpan& s) {
    return s.kind == "client" && s.service == "get-customer";
  });
  const JaegerSpan* server = find_span(trace, [](const JaegerSpan& s) { return s.kind == "server"; });
  ASSERT_NE(client, nullptr);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(client->parent, command->id);
  EXPECT_EQ(server->parent, client->id);
  EXPECT_EQ(client->tag("error"), "true");  // a 4xx fails the call
  EXPECT_EQ(server->service, "customer-server-api");
  EXPECT_EQ(server->tag("http.response.status_code"), "404");
  EXPECT_EQ(server->tag("snap.error_code"), "not_found");
}

TEST_F(ObservabilityEndToEnd, PrometheusCountsTheRequestsPerEndpointAndStatus) {
  const auto value = [](const std::string& promql) -> std::optional<double> {
    const json::value body =
        get_json(d().prometheus_url + "/api/v1/query?query=" + testing::url_encode(promql));
    const json::array& result = body.at("data").at("result").as_array();
    if (result.empty()) return std::nullopt;
    return std::stod(std::string(result.at(0).at("value").at(1).as_string()));
  };
  const std::string server = "snap_http_server_requests_total{job=\"customer-server-api\"";
  const std::map<std::string, double> expected{
      {"up{job=\"customer-server-api\"}", 1},
      {server + ",route=\"POST /api/customer\",code=\"204\"}", 1},
      {server + ",route=\"GET /api/customer/{id}\",code=\"200\"}", 1},
      {server + ",route=\"GET /api/customer/{id}\",code=\"404\"}", 1},
      {"count(" + server + "})", 3},
  };
  for (const auto& [promql, want] : expected) {
    std::optional<double> got;
    EXPECT_TRUE(eventually([&] {
      got = value(promql);
      return got == want;
    })) << promql << " is " << (got ? std::to_string(*got) : "absent") << ", not " << want;
  }
}

// From inside each container (same image, networks and secrets, via `docker-compose
// run`), every service that listens, at each of its addresses.
TEST_F(ObservabilityEndToEnd, EachContainerReachesWhatItUsesAndJaegerAndPrometheusReachesTheServers) {
  const std::map<std::string, std::vector<std::string>> listening{{"customer-server-api", {"20000"}},
                                                                  {"customer-server-db", {"5432"}},
                                                                  {"jaeger", {"4318", "16686"}},
                                                                  {"prometheus", {"9090"}}};
  std::map<std::string, std::vector<std::string>> addresses;  // service -> HOST:PORT
  for (const auto& [service, ports] : listening) {
    const std::string ips = d().docker({"inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                                        d().container_of(service)}).out;
    for (const std::string& port : ports) {
      std::istringstream in(ips);
      for (std::string ip; in >> ip;) addresses[service].push_back(ip + ":" + port);
      addresses[service].push_back(service + ":" + port);
    }
  }
  addresses["customer-server-api"].push_back("metrics.customer-server-api:20000");
  // The declared uses, every app service -> Jaeger, Prometheus -> the server: nothing else.
  const std::map<std::string, std::set<std::string>> expected{
      {"example-client", {"customer-server-api", "jaeger"}},
      {"customer-server-api", {"customer-server-db", "jaeger"}},
      {"customer-server-db", {}},
      {"get-customer", {"customer-server-api", "jaeger"}},
      {"jaeger", {}},
      {"prometheus", {"customer-server-api"}},
  };
  for (const auto& [from, allowed] : expected) {
    std::vector<std::string> args{"run", "--rm", "--no-deps", "-T", "--entrypoint", "/probe", from, "connect"};
    for (const auto& [service, list] : addresses) {
      if (service != from) args.insert(args.end(), list.begin(), list.end());
    }
    const ProcessResult probed = d().compose(args, 180);
    ASSERT_EQ(probed.exit_code, 0) << from << ": " << probed.err;
    std::map<std::string, std::set<std::string>> open;  // service -> addresses that connected
    for (const std::string& line : lines(probed.out)) {
      const std::string target = line.substr(0, line.find(' '));
      if (line.substr(line.find(' ') + 1) != "open") continue;
      for (const auto& [service, list] : addresses) {
        if (std::find(list.begin(), list.end(), target) != list.end()) open[service].insert(target);
      }
    }
    for (const auto& [service, list] : addresses) {
      if (service == from) continue;
      if (allowed.count(service)) {
        EXPECT_FALSE(open[service].empty()) << from << " cannot reach " << service << ":\n" << probed.out;
      } else {
        EXPECT_TRUE(open[service].empty()) << from << " reaches " << service << ":\n" << probed.out;
      }
    }
    // Prometheus reaches the server at its metrics address only; callers never there.
    const bool metrics = open["customer-server-api"].count("metrics.customer-server-api:20000") > 0;
    EXPECT_EQ(metrics, from == "prometheus") << from << ":\n" << probed.out;
  }
}

// `docker-compose logs` of the app's services: every line a service wrote is one JSON
// object with its fields, and each trace id in them is a trace Jaeger holds.
TEST_F(ObservabilityEndToEnd, EveryLogLineIsJsonAndItsTraceIdsAreTracesInJaeger) {
  const ProcessResult logs =
      d().compose({"logs", "--no-color", "--no-log-prefix", "example-client", "customer-server-api"}, 60);
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  std::set<std::string> trace_ids;
  std::size_t json_lines = 0;
  for (const std::string& line : lines(logs.out)) {
    if (line.rfind("Loaded customer: ", 0) == 0) continue;  // the job's standard output
    if (line.rfind("Attaching to ", 0) == 0) continue;     // docker-compose's own
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    ASSERT_TRUE(v.is_object()) << line;
    for (const char* field : {"time", "level", "persona", "service", "message"}) {
      EXPECT_TRUE(v.as_object().contains(field)) << field << " missing: " << line;
    }
    ++json_lines;
    if (const auto* id = v.as_object().if_contains("trace_id")) trace_ids.insert(std::string(id->as_string()));
  }
  EXPECT_GE(json_lines, 3u) << logs.out;
  ASSERT_FALSE(trace_ids.empty()) << "no line carries a trace id:\n" << logs.out;
  for (const std::string& id : trace_ids) {
    EXPECT_TRUE(eventually([&] {
      const json::value body = get_json(d().jaeger_url + "/api/traces/" + id);
      return !body.at("data").as_array().empty();
    })) << "trace " << id << " is not in Jaeger";
  }
}

}  // namespace
}  // namespace snap
