// The OTLP/HTTP exporter tries a batch again while the collector says it cannot take it
// yet (429, 502, 503, 504) or cannot be reached, up to 5 attempts, and never past the
// processor's stop deadline; any other answer is final. Against a loopback responder that
// answers from a script, one connection per attempt.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "snap/otlp_exporter.h"

namespace snap {
namespace {

// Answers each connection with the next status of `statuses` (then closes it); counts
// the requests. Stops after the script or when destroyed.
class ScriptedCollector {
 public:
  explicit ScriptedCollector(std::vector<int> statuses) : statuses_(std::move(statuses)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("ScriptedCollector: cannot listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedCollector() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces"; }
  int requests() const { return requests_; }

 private:
  void serve() {
    for (int status : statuses_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      char buf[4096];
      // The whole request: headers, then Content-Length bytes.
      for (;;) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        const auto end = in.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const auto at = in.find("Content-Length: ");
        const std::size_t length = at == std::string::npos ? 0 : std::stoul(in.substr(at + 16));
        if (in.size() >= end + 4 + length) break;
      }
      ++requests_;
      const std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\n\r\n{}";
      (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  std::vector<int> statuses_;
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

std::vector<SpanData> one_span() {
  SpanData span;
  span.name = "GET /x";
  span.service = "retry-test";
  return {span};
}

TEST(OtlpExporterRetries, AnOverloadedCollectorIsTriedAgainUntilItTakesTheBatch) {
  ScriptedCollector collector({503, 429, 200});
  auto exporter = otlp_http_exporter(collector.url());
  EXPECT_TRUE(exporter->export_batch(one_span(), std::chrono::seconds(30)));
  EXPECT_EQ(collector.requests(), 3);
}

TEST(OtlpExporterRetries, ARefusalIsFinal) {
  ScriptedCollector collector({400, 200});
  auto exporter = otlp_http_exporter(collector.url());
  EXPECT_FALSE(exporter->export_batch(one_span(), std::chrono::seconds(30)));
  EXPECT_EQ(collector.requests(), 1);
}

TEST(OtlpExporterRetries, AtMostFiveAttempts) {
  ScriptedCollector collector({503, 503, 503, 503, 503, 200});
  auto exporter = otlp_http_exporter(collector.url());
  EXPECT_FALSE(exporter->export_batch(one_span(), std::chrono::seconds(30)));
  EXPECT_EQ(collector.requests(), 5);
}

// Stopping, the deadline wins over the backoff: no attempt after it.
TEST(OtlpExporterRetries, TheStopDeadlineEndsTheRetries) {
  ScriptedCollector collector({503, 200});
  auto exporter = otlp_http_exporter(collector.url());
  exporter->stop_by(std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
  EXPECT_FALSE(exporter->export_batch(one_span(), std::chrono::seconds(30)));
  EXPECT_EQ(collector.requests(), 1);
}

}  // namespace
}  // namespace snap
