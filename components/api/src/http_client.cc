#include "http_client.h"

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace snap::api_detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
// Responses come from our own server, but a proxy or a confused peer could send
// anything: cap what one response may make the client buffer.
constexpr std::size_t kResponseLimit = 64u << 20;
// Pooled connections kept per server; more concurrent callers open more connections
// and close the extra ones when they finish.
constexpr std::size_t kMaxIdle = 64;
}  // namespace

// A connection with its own single-threaded io_context: the caller's thread runs the
// asynchronous operations, which is how Beast gives blocking calls a timeout.
class Connection {
 public:
  Connection() : stream(ioc) {}

  // Runs the queued operation to completion on this thread.
  void run() {
    ioc.restart();
    ioc.run();
  }

  // Whether the server closed this idle connection (readable now means EOF or
  // unexpected data: either way it cannot carry a request).
  bool closed_by_peer() {
    pollfd p{stream.socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
  }

  net::io_context ioc{1};
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
};

ClientPool::ClientPool(std::string host, unsigned short port, ClientTimeouts timeouts)
    : host_(std::move(host)), port_(port), timeouts_(timeouts) {}

ClientPool::~ClientPool() = default;

std::unique_ptr<Connection> ClientPool::take() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  while (!idle_.empty()) {
    std::unique_ptr<Connection> c = std::move(idle_.back());
    idle_.pop_back();
    if (now - c->idle_since < timeouts_.max_idle && !c->closed_by_peer()) return c;
  }
  return nullptr;
}

void ClientPool::give_back(std::unique_ptr<Connection> c) {
  c->idle_since = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

Exchange ClientPool::exchange(std::string_view method, std::string_view target, const std::string& body) {
  Exchange result;
  std::unique_ptr<Connection> c = take();
  if (!c) {
    c = std::make_unique<Connection>();
    tcp::resolver resolver(c->ioc);
    beast::error_code ec;
    const auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
    if (ec) return Exchange{Failure::kConnect, ec, {}};
    c->stream.expires_after(timeouts_.connect);
    c->stream.async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
    c->run();
    if (ec) return Exchange{Failure::kConnect, ec, {}};
    c->stream.socket().set_option(tcp::no_delay(true), ec);
  }

  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, host_);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.keep_alive(true);
  request.prepare_payload();

  beast::error_code ec;
  c->stream.expires_after(timeouts_.response);
  http::async_write(c->stream, request, [&ec](beast::error_code e, std::size_t) { ec = e; });
  c->run();
  if (ec) return Exchange{ec == beast::error::timeout ? Failure::kTimeout : Failure::kBeforeSent, ec, {}};

  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseLimit);
  http::async_read(c->stream, c->buffer, parser, [&ec](beast::error_code e, std::size_t) { ec = e; });
  c->run();
  if (ec) return Exchange{ec == beast::error::timeout ? Failure::kTimeout : Failure::kAfterSent, ec, {}};

  auto& response = parser.get();
  result.response.status = static_cast<int>(response.result_int());
  result.response.body = std::move(response.body());
  if (response.keep_alive()) give_back(std::move(c));
  return result;
}

}  // namespace snap::api_detail
