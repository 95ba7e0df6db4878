#include "test_jaeger.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace snap::testing {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// How long Jaeger may take to become ready, and to exit after SIGTERM. Both are bounds for
// a broken or hung process, not waits: the poll loops end as soon as the condition holds.
constexpr auto kReadyBound = std::chrono::seconds(30);
constexpr auto kStopBound = std::chrono::seconds(10);
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// A free port is found by binding port 0 and closing the socket again, so another process
// can take it before Jaeger binds it; Jaeger then exits at once, and we retry on new ports.
constexpr int kStartAttempts = 3;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Url {
  std::string host;
  std::string port;
  std::string target;
};

Url parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("not an http:// URL: " + url);
  const auto slash = url.find('/', scheme.size());
  const bool has_path = slash != std::string::npos;
  const std::string authority = url.substr(scheme.size(), has_path ? slash - scheme.size() : std::string::npos);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("URL without a port: " + url);
  return {authority.substr(0, colon), authority.substr(colon + 1), has_path ? url.substr(slash) : "/"};
}

// Ports the kernel hands out for 127.0.0.1, all distinct: every socket stays bound until
// all are chosen, then all are closed for Jaeger to bind.
template <std::size_t N>
std::array<unsigned short, N> free_loopback_ports() {
  std::array<int, N> fds{};
  std::array<unsigned short, N> ports{};
  for (std::size_t i = 0; i < N; ++i) {
    fds[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fds[i] < 0 || ::bind(fds[i], reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fds[i], reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      const std::string error = std::strerror(errno);
      for (std::size_t j = 0; j <= i; ++j) {
        if (fds[j] >= 0) ::close(fds[j]);
      }
      throw std::runtime_error("no free port on 127.0.0.1: " + error);
    }
    ports[i] = ntohs(a.sin_port);
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

bool accepts_connections(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// The whole configuration: Jaeger v2 is an OpenTelemetry collector, and without a config
// file it runs its all-in-one defaults on fixed ports of every interface (4317, 4318, 16685,
// 16686, 8888, ...). Here every listener that runs is named with a free 127.0.0.1 port:
//  - receivers: OTLP over HTTP only (no gRPC, Jaeger or Zipkin receivers);
//  - no processors: spans go straight to storage, with no batching delay;
//  - jaeger_query: the HTTP API/UI and its gRPC API both listen (the extension always opens
//    both), so both get a port; enable_tracing off, so Jaeger does not trace itself;
//  - telemetry metrics level none: otherwise the collector serves Prometheus metrics on
//    localhost:8888, a fixed port that parallel tests would fight over.
std::string config_yaml(unsigned short otlp_http, unsigned short query_http, unsigned short query_grpc) {
  const std::string otlp = "127.0.0.1:" + std::to_string(otlp_http);
  const std::string qhttp = "127.0.0.1:" + std::to_string(query_http);
  const std::string qgrpc = "127.0.0.1:" + std::to_string(query_grpc);
  return "service:\n"
         "  extensions: [jaeger_storage, jaeger_query]\n"
         "  pipelines:\n"
         "    traces:\n"
         "      receivers: [otlp]\n"
         "      exporters: [jaeger_storage_exporter]\n"
         "  telemetry:\n"
         "    metrics:\n"
         "      level: none\n"
         "    logs:\n"
         "      level: info\n"
         "extensions:\n"
         "  jaeger_storage:\n"
         "    backends:\n"
         "      memstore:\n"
         "        memory:\n"
         "          max_traces: 10000\n"
         "  jaeger_query:\n"
         "    storage:\n"
         "      traces: memstore\n"
         "    enable_tracing: false\n"
         "    http:\n"
         "      endpoint: " + qhttp + "\n"
         "    grpc:\n"
         "      endpoint: " + qgrpc + "\n"
         "receivers:\n"
         "  otlp:\n"
         "    protocols:\n"
         "      http:\n"
         "        endpoint: " + otlp + "\n"
         "exporters:\n"
         "  jaeger_storage_exporter:\n"
         "    trace_storage: memstore\n";
}

// This process's environment, for the child: Jaeger needs nothing special, nor less.
std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::size_t eq = entry.find('=');
    if (eq != std::string::npos) out.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return out;
}

}  // namespace

HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body,
                          const std::string& content_type, std::chrono::milliseconds bound) {
  const Url u = parse_url(url);
  // Asynchronous operations on one thread, only so that the whole exchange has a deadline
  // (tcp_stream::expires_after); Asio's blocking calls cannot time out.
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  const auto run = [&](const char* step) {
    io.run();
    io.restart();
    if (ec) throw std::runtime_error(method + " " + url + ": " + step + ": " + ec.message());
  };
  stream.expires_after(bound);
  const auto endpoints = tcp::resolver(io).resolve(u.host, u.port);
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  run("connect");

  http::request<http::string_body> req;
  req.method(http::string_to_verb(method));
  req.target(u.target);
  req.version(11);
  req.set(http::field::host, u.host + ":" + u.port);
  req.set(http::field::connection, "close");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.body() = body;
    req.prepare_payload();
  }
  http::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
  run("write");

  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::async_read(stream, buffer, res, [&](beast::error_code e, std::size_t) { ec = e; });
  run("read");
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);

  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  return out;
}

std::optional<std::string> TestJaeger::binary() {
  if (const char* env = std::getenv("SNAP_JAEGER"); env != nullptr && *env != '\0') return std::string(env);
#ifdef SNAP_JAEGER
  if (std::string(SNAP_JAEGER).empty()) return std::nullopt;
  return std::string(SNAP_JAEGER);
#else
  return std::nullopt;
#endif
}

TestJaeger::TestJaeger() {
  const auto bin = binary();
  if (!bin) throw std::runtime_error("Jaeger is not built: run scripts/build-jaeger.sh");
  if (::access(bin->c_str(), X_OK) != 0) {
    throw std::runtime_error("the configured Jaeger binary " + *bin +
                             " is not an executable file: run scripts/build-jaeger.sh and reconfigure");
  }
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / ("snap-jaeger-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  std::string failure;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    if (start_once(*bin, failure)) return;
    // Only a port taken between our choice and Jaeger's bind is worth another try.
    if (failure.find("address already in use") == std::string::npos) break;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  throw std::runtime_error(failure);
}

TestJaeger::~TestJaeger() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool TestJaeger::start_once(const std::string& bin, std::string& failure) {
  const auto ports = free_loopback_ports<3>();
  otlp_http_port_ = ports[0];
  query_http_port_ = ports[1];
  query_grpc_port_ = ports[2];
  const auto config = dir_ / "config.yaml";
  std::ofstream(config) << config_yaml(otlp_http_port_, query_http_port_, query_grpc_port_);

  // Output goes to files (jaeger.out, jaeger.err), not a pipe: nothing has to keep reading
  // them for Jaeger to make progress, and they are there to show when a test fails. It
  // dies with the test process (BackgroundProcess: PR_SET_PDEATHSIG), so create a
  // TestJaeger on a thread that outlives it.
  process_ = std::make_unique<BackgroundProcess>("jaeger", std::vector<std::string>{bin, "--config", config.string()},
                                                 current_environment(), dir_, dir_);

  // Ready means: the query API answers, and the OTLP/HTTP port accepts connections. Both are
  // checked because the collector starts its extensions (the query API is one) before its
  // pipelines' receivers, so the query API alone can answer while OTLP is not listening yet.
  const auto deadline = std::chrono::steady_clock::now() + kReadyBound;
  bool query_ready = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) {
      failure = "Jaeger " + process_->status() + " before it was ready; its log:\n" + log();
      process_.reset();
      return false;
    }
    if (!query_ready) {
      try {
        query_ready = http_request("GET", query_url() + "/api/services", "", "", std::chrono::seconds(2)).status == 200;
      } catch (const std::exception&) {
        // not listening yet
      }
    }
    if (query_ready && accepts_connections(otlp_http_port_)) return true;
    std::this_thread::sleep_for(kPollInterval);
  }
  stop();
  failure = "Jaeger was not ready within " + std::to_string(kReadyBound.count()) + " s; its log:\n" + log();
  return false;
}

void TestJaeger::stop() {
  // SIGTERM lets the collector shut down in order; SIGKILL if it has not within the bound.
  if (process_) process_->stop(kStopBound);
  process_.reset();
}

std::string TestJaeger::otlp_http_endpoint() const { return "http://127.0.0.1:" + std::to_string(otlp_http_port_); }

std::string TestJaeger::query_url() const { return "http://127.0.0.1:" + std::to_string(query_http_port_); }

std::string TestJaeger::log() const { return read_text(dir_ / "jaeger.out") + read_text(dir_ / "jaeger.err"); }

boost::json::value TestJaeger::get(const std::string& path) const {
  const HttpResponse r = http_request("GET", query_url() + path);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.body, ec);
  if (ec) {
    throw std::runtime_error("GET " + path + ": HTTP " + std::to_string(r.status) + ", not JSON: " + r.body);
  }
  return v;
}

boost::json::value TestJaeger::wait_for_trace(const std::string& trace_id_hex, std::size_t spans,
                                              std::chrono::milliseconds bound) const {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  boost::json::value last;
  for (;;) {
    last = get("/api/traces/" + trace_id_hex);
    if (const auto* data = last.is_object() ? last.as_object().if_contains("data") : nullptr;
        data != nullptr && data->is_array() && !data->as_array().empty()) {
      const auto& trace = data->as_array()[0];
      const auto* found = trace.is_object() ? trace.as_object().if_contains("spans") : nullptr;
      if (found != nullptr && found->is_array() && found->as_array().size() >= spans) return trace;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  throw std::runtime_error("trace " + trace_id_hex + " did not reach " + std::to_string(spans) + " spans within " +
                           std::to_string(bound.count()) + " ms; last response: " + boost::json::serialize(last));
}

}  // namespace snap::testing
