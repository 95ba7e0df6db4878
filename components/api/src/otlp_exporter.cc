#include "snap/otlp_exporter.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace snap {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

struct TracesUrl {
  std::string host;
  std::string port = "80";
  std::string target;  // the path, "/v1/traces"
};

TracesUrl parse_url(const std::string& url) {
  const auto refuse = [&](const std::string& why) {
    return std::invalid_argument("OTLP traces URL \"" + url + "\": " + why);
  };
  constexpr std::string_view kScheme = "http://";
  if (url.rfind("https://", 0) == 0) throw refuse("https is not supported; use a collector reached over http");
  if (url.rfind(kScheme, 0) != 0) throw refuse("expected http://HOST[:PORT]/PATH");
  const std::string rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  TracesUrl out;
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty()) throw refuse("no host");
  if (authority.find('@') != std::string::npos) throw refuse("credentials in the URL are not supported");
  if (authority.front() == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) throw refuse("unclosed [ in the host");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw refuse("expected :PORT after the host");
      out.port = authority.substr(close + 2);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string::npos) {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  } else {
    out.host = authority;
  }
  if (out.host.empty()) throw refuse("no host");
  if (out.port.empty() || out.port.size() > 5 || out.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(out.port) == 0 || std::stoul(out.port) > 65535) {
    throw refuse("the port is not a number from 1 to 65535");
  }
  return out;
}

class OtlpHttpExporter final : public SpanExporter {
 public:
  explicit OtlpHttpExporter(TracesUrl url) : url_(std::move(url)) {}

  // One batch: retried while the collector cannot be reached or answers that it is
  // overloaded (OTLP's retryable 429, 502, 503, 504), up to kAttempts times with backoff,
  // all within `timeout` and the stop deadline. A collector starting beside the app
  // (compose starts them together) thus still receives the first batches, and a job's last
  // ones at its exit. A timeout is not retried: the collector may be hung, and the batch
  // already had its time.
  bool export_batch(const std::vector<SpanData>& spans, std::chrono::milliseconds timeout) override {
    const auto end = std::chrono::steady_clock::now() + timeout;
    auto backoff = kFirstBackoff;
    for (int attempt = 1;; ++attempt) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return false;
      const Outcome outcome = export_once(spans, left);
      if (outcome == Outcome::kAccepted) return true;
      if (outcome == Outcome::kFailed || attempt == kAttempts) return false;
      if (!pause(std::min(end, stop_deadline()), backoff)) return false;
      backoff *= 2;
    }
  }

  void stop_by(std::chrono::steady_clock::time_point deadline) override {
    stop_by_.store(deadline.time_since_epoch().count());
  }

 private:
  static constexpr int kAttempts = 5;  // backoff 250 + 500 + 1000 + 2000 ms between them
  static constexpr std::chrono::milliseconds kFirstBackoff{250};
  enum class Outcome { kAccepted, kRetryable, kFailed };

  std::chrono::steady_clock::time_point stop_deadline() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(stop_by_.load()));
  }
  // Waits `how_long` in slices, so that a stop deadline set meanwhile cuts it; false when
  // the wait would pass `until`.
  bool pause(std::chrono::steady_clock::time_point until, std::chrono::milliseconds how_long) const {
    const auto wake = std::chrono::steady_clock::now() + how_long;
    if (wake >= until) return false;
    while (std::chrono::steady_clock::now() < wake) {
      if (std::chrono::steady_clock::now() + std::chrono::milliseconds(1) >= stop_deadline()) return false;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(wake - std::chrono::steady_clock::now(),
                                                                                std::chrono::milliseconds(50)));
    }
    return true;
  }

  Outcome export_once(const std::vector<SpanData>& spans, std::chrono::milliseconds timeout) {
    // Asynchronous steps on a private io_context run for at most `timeout`: a collector
    // that accepts and never answers (or a name that does not resolve) costs one timeout,
    // never a blocked thread (Beast's stream timeouts apply to asynchronous operations
    // only). One connection per batch: a batch goes at most every few seconds, and a
    // collector that restarted is then found again without keeping a broken connection.
    net::io_context io;
    net::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    http::request<http::string_body> request{http::verb::post, url_.target, 11};
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);  // a collector's answer is small; never hold more
    Outcome outcome = Outcome::kFailed;
    stream.expires_after(timeout);
    resolver.async_resolve(url_.host, url_.port, [&](beast::error_code ec, net::ip::tcp::resolver::results_type found) {
      if (ec) {
        outcome = Outcome::kRetryable;  // not resolvable yet (a service still starting)
        return;
      }
      stream.async_connect(found, [&](beast::error_code ec, const net::ip::tcp::endpoint&) {
        if (ec) {
          // Refused or unreachable: retryable; a connect that timed out is not.
          if (ec != beast::error::timeout) outcome = Outcome::kRetryable;
          return;
        }
        // Encoded once connected: with the collector down, no batch is encoded for nothing.
        request.set(http::field::host, url_.host + ":" + url_.port);
        request.set(http::field::content_type, "application/json");
        request.body() = otlp_json(spans);
        request.prepare_payload();
        http::async_write(stream, request, [&](beast::error_code ec, std::size_t) {
          if (ec) return;
          http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
            const unsigned status = parser.get().result_int();
            if (!ec && status >= 200 && status < 300) {
              outcome = Outcome::kAccepted;
            } else if (!ec && (status == 429 || status == 502 || status == 503 || status == 504)) {
              outcome = Outcome::kRetryable;
            }
            beast::error_code ignored;
            stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
          });
        });
      });
    });
    // Run in slices so that a stop_by() deadline cuts an export that started before it;
    // the lookup is bounded here too, which the stream's expiry does not cover.
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!io.stopped()) {
      const auto until = std::min(end, std::chrono::steady_clock::time_point(
                                           std::chrono::steady_clock::duration(stop_by_.load())));
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      io.run_for(std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
    }
    return outcome;  // a lost batch is counted and reported by the processor, once a minute
  }

  const TracesUrl url_;
  // The processor's stop deadline (steady clock ticks); far away until it stops.
  std::atomic<std::chrono::steady_clock::rep> stop_by_{std::chrono::steady_clock::time_point::max().time_since_epoch().count()};
};

}  // namespace

std::unique_ptr<SpanExporter> otlp_http_exporter(const std::string& traces_url) {
  return std::make_unique<OtlpHttpExporter>(parse_url(traces_url));
}

}  // namespace snap
