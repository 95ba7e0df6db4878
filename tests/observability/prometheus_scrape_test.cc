// The metrics as a real Prometheus sees them: a `--local` build of relay_app, its servers
// front and back run as child processes, scraped every second by a Prometheus the test
// starts (snap::testing::TestPrometheus). The test makes requests of known routes and
// outcomes and waits (bounded) until Prometheus' query API shows exactly those counts.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include "local_run.h"
#include "test_jaeger.h"  // http_request
#include "test_prometheus.h"

namespace {

using snap::testing::BackgroundProcess;
using snap::testing::http_request;
using snap::testing::LocalBuild;
using snap::testing::TestPrometheus;
using namespace std::chrono_literals;

constexpr const char* kRelayApp = SNAP_RELAY_APP;

std::string str(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v);
}

class PrometheusScrape : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TestPrometheus::binary()) GTEST_SKIP() << "Prometheus is not installed (apt-get install prometheus)";
    build_.emplace(kRelayApp);
    front_port_ = build_->port("relay.front.port");
    back_port_ = build_->port("relay.back.port");
  }
  void TearDown() override {
    if (!HasFailure()) return;
    if (build_) std::cerr << build_->describe();
    if (prometheus_) std::cerr << "--- Prometheus' log:\n" << prometheus_->log() << "--- end of Prometheus' log\n";
  }

  std::optional<LocalBuild> build_;
  // Declared after the build: stopped first, while the servers still answer.
  std::optional<TestPrometheus> prometheus_;
  unsigned short front_port_ = 0, back_port_ = 0;
};

TEST_F(PrometheusScrape, RequestCountsByRouteAndCodeReachPrometheus) {
  BackgroundProcess& back = build_->start("back");
  BackgroundProcess& front = build_->start("front");
  LocalBuild::wait_healthy(back, back_port_);
  LocalBuild::wait_healthy(front, front_port_);
  const std::string front_target = "127.0.0.1:" + std::to_string(front_port_);
  const std::string back_target = "127.0.0.1:" + std::to_string(back_port_);
  prometheus_.emplace(std::vector<std::string>{front_target, back_target});

  const auto call = [&](const char* method, const char* path, const char* body) {
    return http_request(method, "http://" + front_target + path, body, "application/json").status;
  };
  constexpr int kFound = 5, kMissing = 3, kWork = 4;
  for (int i = 0; i < kFound; ++i) EXPECT_EQ(call("GET", "/front/item", R"({"id":"1"})"), 200);
  for (int i = 0; i < kMissing; ++i) EXPECT_EQ(call("GET", "/front/item", R"({"id":"2"})"), 404);
  for (int i = 0; i < kWork; ++i) EXPECT_EQ(call("POST", "/front/work", R"({"text":"x"})"), 200);
  // Not a route: answered 404 but not counted under a route of its own (the labels stay bounded).
  EXPECT_EQ(call("GET", "/front/nothing", ""), 404);

  const std::string front_instance = "instance=\"" + front_target + "\"";
  const std::string back_instance = "instance=\"" + back_target + "\"";
  const auto requests = [&](const std::string& instance, const std::string& server, const std::string& route,
                            int code) {
    return "snap_http_server_requests_total{" + instance + ",server=\"" + server + "\",route=\"" + route +
           "\",code=\"" + std::to_string(code) + "\"}";
  };
  prometheus_->wait_for_value(requests(front_instance, "front", "GET /front/item", 200), kFound);
  prometheus_->wait_for_value(requests(front_instance, "front", "GET /front/item", 404), kMissing);
  prometheus_->wait_for_value(requests(front_instance, "front", "POST /front/work", 200), kWork);
  // front's calls to back, seen from both sides.
  prometheus_->wait_for_value(requests(back_instance, "back", "POST /back/work", 200), kWork);
  prometheus_->wait_for_value("snap_http_client_calls_total{" + front_instance +
                                  ",server=\"back\",route=\"POST /back/work\",outcome=\"ok\"}",
                              kWork);
  // Every request answered is in its route's latency histogram; none is in flight.
  prometheus_->wait_for_value("snap_http_server_request_duration_seconds_count{" + front_instance +
                                  ",server=\"front\",route=\"GET /front/item\"}",
                              kFound + kMissing);
  prometheus_->wait_for_value("snap_http_server_requests_in_flight{" + front_instance + ",server=\"front\"}", 0);
  // Exactly the three series the requests made, no more (the unknown path has none).
  prometheus_->wait_for_value("count(snap_http_server_requests_total{" + front_instance + "})", 3);

  // Both targets are up, scraped without error.
  prometheus_->wait_for_value("up{job=\"snap\"," + front_instance + "}", 1);
  prometheus_->wait_for_value("up{job=\"snap\"," + back_instance + "}", 1);
  const auto targets = prometheus_->get("/api/v1/targets");
  const auto& active = targets.at("data").at("activeTargets").as_array();
  ASSERT_EQ(active.size(), 2u) << boost::json::serialize(targets);
  for (const auto& t : active) {
    EXPECT_EQ(str(t.at("health")), "up") << boost::json::serialize(t);
    EXPECT_EQ(str(t.at("lastError")), "") << boost::json::serialize(t);
    EXPECT_EQ(str(t.at("scrapePool")), "snap");
  }
}

}  // namespace
