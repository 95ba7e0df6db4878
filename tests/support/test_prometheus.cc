#include "test_prometheus.h"

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "local_run.h"
#include "test_jaeger.h"  // http_request

namespace snap::testing {

namespace {

// Bounds for a broken or hung Prometheus, not waits: the loops end as soon as it is ready.
constexpr auto kReadyBound = std::chrono::seconds(30);
constexpr auto kStopBound = std::chrono::seconds(10);
constexpr auto kPollInterval = std::chrono::milliseconds(100);
// A free port is found by binding port 0 and closing it again, so another process can take
// it before Prometheus binds it; Prometheus then exits at once, and we retry on a new one.
constexpr int kStartAttempts = 3;

// scrape_timeout may not exceed scrape_interval; evaluation_interval matters for nothing
// here (no rules) but is kept as short.
std::string config_yaml(const std::vector<std::string>& targets) {
  std::string list;
  for (const auto& t : targets) list += (list.empty() ? "'" : ", '") + t + "'";
  return "global:\n"
         "  scrape_interval: 1s\n"
         "  scrape_timeout: 1s\n"
         "  evaluation_interval: 1s\n"
         "scrape_configs:\n"
         "  - job_name: snap\n"
         "    metrics_path: /metrics\n"
         "    static_configs:\n"
         "      - targets: [" + list + "]\n";
}

}  // namespace

std::string url_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::optional<std::string> TestPrometheus::binary() {
  if (const char* env = std::getenv("SNAP_PROMETHEUS"); env != nullptr && *env != '\0') return std::string(env);
#ifdef SNAP_PROMETHEUS
  const std::string configured = SNAP_PROMETHEUS;
  if (configured.empty() || configured.find("NOTFOUND") != std::string::npos) return std::nullopt;
  return configured;
#else
  return std::nullopt;
#endif
}

TestPrometheus::TestPrometheus(const std::vector<std::string>& targets) {
  const auto bin = binary();
  if (!bin) throw std::runtime_error("Prometheus is not installed (apt-get install prometheus, or set SNAP_PROMETHEUS)");
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / ("snap-prometheus-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  std::string failure;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    if (start_once(*bin, targets, failure)) return;
    if (failure.find("address already in use") == std::string::npos) break;
  }
  process_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  throw std::runtime_error(failure);
}

TestPrometheus::~TestPrometheus() {
  if (process_) process_->stop(kStopBound);
  process_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool TestPrometheus::start_once(const std::string& bin, const std::vector<std::string>& targets,
                                std::string& failure) {
  if (process_) process_->stop(kStopBound);
  process_.reset();
  port_ = free_loopback_port();
  std::ofstream(dir_ / "prometheus.yml") << config_yaml(targets);
  std::error_code ignored;
  std::filesystem::remove_all(dir_ / "data", ignored);
  // Its own log file per attempt, so that a failure shows the attempt that failed.
  std::filesystem::remove(dir_ / "prometheus.out", ignored);
  std::filesystem::remove(dir_ / "prometheus.err", ignored);
  process_ = std::make_unique<BackgroundProcess>(
      "prometheus",
      std::vector<std::string>{bin, "--config.file=" + (dir_ / "prometheus.yml").string(),
                               "--storage.tsdb.path=" + (dir_ / "data").string(),
                               "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=info"},
      std::map<std::string, std::string>{{"PATH", "/usr/bin:/bin"}}, dir_, dir_);

  const auto deadline = std::chrono::steady_clock::now() + kReadyBound;
  std::string last = "no answer";
  for (;;) {
    if (!process_->running()) {
      failure = "Prometheus " + process_->status() + " before it was ready:\n" + log();
      return false;
    }
    try {
      const HttpResponse r = http_request("GET", url() + "/-/ready", "", "", std::chrono::seconds(2));
      if (r.status == 200) return true;
      last = "HTTP " + std::to_string(r.status) + ": " + r.body;
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  failure = "Prometheus was not ready within " + std::to_string(std::chrono::seconds(kReadyBound).count()) +
            " s (last: " + last + "):\n" + log();
  return false;
}

std::string TestPrometheus::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

boost::json::value TestPrometheus::get(const std::string& path_and_query) const {
  const HttpResponse r = http_request("GET", url() + path_and_query);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.body, ec);
  if (ec) throw std::runtime_error("GET " + path_and_query + ": HTTP " + std::to_string(r.status) + ", not JSON: " + r.body);
  return v;
}

boost::json::value TestPrometheus::query(const std::string& promql) const {
  return get("/api/v1/query?query=" + url_encode(promql));
}

std::optional<double> TestPrometheus::value(const std::string& promql) const {
  const boost::json::value answer = query(promql);
  const auto* status = answer.as_object().if_contains("status");
  if (status == nullptr || !status->is_string() || status->as_string() != "success") {
    throw std::runtime_error("query " + promql + " failed: " + boost::json::serialize(answer));
  }
  const auto& result = answer.at("data").at("result").as_array();
  if (result.empty()) return std::nullopt;
  if (result.size() > 1) {
    throw std::runtime_error("query " + promql + " yields " + std::to_string(result.size()) +
                             " samples, not one: " + boost::json::serialize(answer));
  }
  // {"metric": {...}, "value": [TIME, "VALUE"]}
  return std::stod(std::string(result[0].at("value").as_array().at(1).as_string()));
}

void TestPrometheus::wait_for_value(const std::string& promql, double expected, std::chrono::milliseconds bound) const {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  std::string last;
  for (;;) {
    try {
      const auto v = value(promql);
      if (v && *v == expected) return;
      last = v ? std::to_string(*v) : "no sample";
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  std::string targets;
  try {
    targets = boost::json::serialize(get("/api/v1/targets"));
  } catch (const std::exception& e) {
    targets = e.what();
  }
  throw std::runtime_error(promql + " did not reach " + std::to_string(expected) + " within " +
                           std::to_string(bound.count()) + " ms; last: " + last + "; targets: " + targets);
}

std::string TestPrometheus::log() const {
  return process_ ? process_->out() + process_->err() : std::string();
}

}  // namespace snap::testing
