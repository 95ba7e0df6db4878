// A private Prometheus for tests: the real server (Debian's `prometheus` package, or the
// binary SNAP_PROMETHEUS names), started as a child process that scrapes the given targets
// every second, with its web API on a free port of 127.0.0.1, its TSDB and generated config
// in a temporary directory of its own. Stopped and removed at the end, even when a test
// fails. Tests run in parallel, so nothing here uses a fixed port.
//
// Prometheus hands new static targets to its scrape manager at most every 5 s, so the
// first scrape comes some seconds after start: tests poll (wait_for_value) with a bound.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace snap::testing {

class BackgroundProcess;

// `text` percent-encoded for a URL's query (RFC 3986's unreserved characters as they are).
std::string url_encode(const std::string& text);

class TestPrometheus {
 public:
  // The binary: the SNAP_PROMETHEUS environment variable if set, otherwise CMake's
  // SNAP_PROMETHEUS (found on the PATH at configure time); nullopt when neither names one.
  static std::optional<std::string> binary();

  // Starts Prometheus scraping `targets` ("127.0.0.1:PORT" each) at /metrics every second,
  // as job "snap", and waits (bounded, ~30 s) until /-/ready answers 200. Throws
  // std::runtime_error (with Prometheus' log) if it cannot.
  explicit TestPrometheus(const std::vector<std::string>& targets);
  // SIGTERM, then SIGKILL if it has not exited within a bound; removes the directory.
  ~TestPrometheus();
  TestPrometheus(const TestPrometheus&) = delete;
  TestPrometheus& operator=(const TestPrometheus&) = delete;

  // "http://127.0.0.1:PORT"
  std::string url() const;
  // GETs an API path ("/api/v1/targets") and returns the parsed body whatever the status.
  // Throws std::runtime_error if there is no answer or the body is not JSON.
  boost::json::value get(const std::string& path_and_query) const;
  // An instant query (/api/v1/query?query=PROMQL, encoded here): the whole response.
  boost::json::value query(const std::string& promql) const;
  // The value of an instant query that yields one sample; nullopt when it yields none.
  // Throws std::runtime_error when the query fails or yields more than one sample.
  std::optional<double> value(const std::string& promql) const;
  // Polls value(promql) until it equals `expected` (bounded). Throws std::runtime_error
  // with the last answer (and the targets' state) when time runs out.
  void wait_for_value(const std::string& promql, double expected,
                      std::chrono::milliseconds bound = std::chrono::seconds(30)) const;

  // Everything Prometheus has written to stdout and stderr so far (for failure messages).
  std::string log() const;

 private:
  bool start_once(const std::string& binary, const std::vector<std::string>& targets, std::string& failure);

  std::filesystem::path dir_;
  std::unique_ptr<BackgroundProcess> process_;
  unsigned short port_ = 0;
};

}  // namespace snap::testing
