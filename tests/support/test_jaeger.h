// A private Jaeger tracing backend for tests: the real Jaeger v2 binary (built by
// scripts/build-jaeger.sh), started as a child process with in-memory storage, its OTLP/HTTP
// receiver and its query API on free ports of 127.0.0.1 only, from a config generated into
// a temporary directory of its own. Stopped and removed at the end, even when a test fails.
// Tests run in parallel, so nothing here uses a fixed port.
#pragma once

#include <sys/types.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "local_run.h"

namespace snap::testing {

// One HTTP/1.1 exchange (a fresh connection, closed afterwards).
struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// `url` is "http://HOST:PORT/PATH". Throws std::runtime_error when there is no answer
// within `bound` (a bound for a hung server, not a timing assertion).
HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body = "",
                          const std::string& content_type = "",
                          std::chrono::milliseconds bound = std::chrono::seconds(10));

class TestJaeger {
 public:
  // The Jaeger binary this build was configured with: the SNAP_JAEGER environment variable
  // if set, otherwise CMake's -DSNAP_JAEGER=PATH (scripts/test.sh passes the path that
  // scripts/build-jaeger.sh printed); nullopt when neither names one. A configured path is
  // returned as it is, even if missing, so that such a test fails instead of skipping.
  static std::optional<std::string> binary();

  // Starts Jaeger and waits (bounded, ~30 s) until its query API answers and its OTLP/HTTP
  // port accepts connections. Throws std::runtime_error (with Jaeger's log) if it cannot.
  TestJaeger();
  // SIGTERM, then SIGKILL if it has not exited within a bound; removes the directory.
  ~TestJaeger();
  TestJaeger(const TestJaeger&) = delete;
  TestJaeger& operator=(const TestJaeger&) = delete;

  // The OTLP/HTTP base URL, "http://127.0.0.1:PORT": an exporter appends "/v1/traces".
  std::string otlp_http_endpoint() const;
  // The query API's (and UI's) base URL, "http://127.0.0.1:PORT".
  std::string query_url() const;

  // GETs a query-API path (e.g. "/api/traces/<32 hex digits>" or "/api/traces?service=NAME")
  // and returns the parsed body, whatever the HTTP status: the query API reports a failure
  // in the body too, as {"data": null, "errors": [{"code": 404, "msg": "trace not found"}]}.
  // Throws std::runtime_error if there is no answer or the body is not JSON.
  boost::json::value get(const std::string& path) const;

  // Polls "/api/traces/<trace_id_hex>" until the trace holds at least `spans` spans (Jaeger
  // stores what it receives asynchronously), bounded by `bound`. Returns that trace, the
  // response's data[0]; throws std::runtime_error with the last response when time runs out.
  boost::json::value wait_for_trace(const std::string& trace_id_hex, std::size_t spans,
                                    std::chrono::milliseconds bound = std::chrono::seconds(30)) const;

  // Everything Jaeger has written to stdout and stderr so far (for failure messages).
  std::string log() const;

 private:
  bool start_once(const std::string& binary, std::string& failure);
  void stop();

  std::filesystem::path dir_;
  std::unique_ptr<BackgroundProcess> process_;  // while Jaeger runs
  unsigned short otlp_http_port_ = 0;
  unsigned short query_http_port_ = 0;
  unsigned short query_grpc_port_ = 0;
};

}  // namespace snap::testing
