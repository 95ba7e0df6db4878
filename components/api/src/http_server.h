// The HTTP/1.1 server under snap::ApiServer (run mode): Boost.Beast over Asio, one
// strand per connection, limits from ApiServerOptions. Private to snap_api.
//
// Handlers may block (a store waiting on its database). At most `handler_threads` run at
// once, `handler_queue` requests wait for one, and a request beyond that is answered
// resource_exhausted (429) at once. A handler runs on the thread that read its request
// (no hand-off for the quick ones); a thread whose handler has run 5 ms is taken over by
// one of `handler_threads` spare threads, so `threads` threads always go on reading,
// writing and answering /healthz, however many handlers block.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "snap/api_server.h"

namespace snap::api_detail {

struct HttpReply {
  int status = 200;
  std::string body;  // JSON, or empty for 204
  std::string_view content_type = "application/json";  // a constant's: /metrics is text
  std::string_view www_authenticate;  // a constant's; sent when not empty (a 401's challenge)
  std::string_view build;  // the server's build id (App::build_id, lives as long as the app): Snap-Build when not empty
};

// What the I/O thread does with a request: answer it at once with `reply`, or hand it to
// a handler thread to run route number `route` on its body.
struct Routing {
  std::optional<std::size_t> route;
  HttpReply reply;  // when there is no route
};

// A request as a handler sees it: its body, its headers and the W3C Trace Context ones
// (empty when absent). Views into the request, valid while the handler runs.
struct IncomingRequest {
  std::string_view target;  // path and query, as sent
  std::string_view body;
  std::string_view traceparent;
  std::string_view tracestate;
  std::span<const Header> headers;  // all of them, in the order received
};

// Who connects through a listening address, so that the route function can answer
// each its own: loopback (the container itself, or every process of a local build),
// the callers on the server's own network, or Prometheus on the server's metrics
// network (`build --observability`).
enum class Audience { kLocal, kCallers, kScraper };

struct HttpRoutes {
  // On an I/O thread for each complete request; must not block.
  std::function<Routing(std::string_view method, std::string_view target, Audience from)> route;
  // On a server thread, for a request `route` named; may block.
  std::function<HttpReply(std::size_t route, const IncomingRequest& request)> handle;
};

// The message of the resource_exhausted error a request gets when every handler thread
// is busy and `handler_queue` requests wait (dev direct calls get the same).
std::string handlers_busy_message(const ApiServerOptions& options);

class HttpServer {
 public:
  // `logger` must outlive the server.
  HttpServer(const ApiServerOptions& options, spdlog::logger& logger, HttpRoutes routes);
  ~HttpServer();  // stops at once if stop() was not called
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `port` on each address (IP literals; their audience is kLocal) and starts the
  // I/O and handler threads. Throws std::runtime_error naming the address when one cannot
  // be bound (none stays bound).
  void start(const std::vector<std::string>& addresses, unsigned short port);
  // After start(): listens on one more address, on the same port, for `audience`. False
  // (and nothing done) once the server stops accepting; throws as start() when it cannot
  // bind. Any thread.
  bool listen_also(const std::string& address, Audience audience);
  // Closes the listening socket (new connections are refused once this returns) and
  // the connections waiting for a request; requests in flight finish with
  // `Connection: close`. Any thread, idempotent.
  void stop_accepting();
  // stop_accepting(), then waits up to `deadline` for connections in flight to finish
  // (requests waiting for a handler included), then closes what is left: the requests
  // still waiting are dropped with their connections; the handlers still running are
  // waited for (they use the server's context) and their replies written if the socket
  // takes them at once.
  void stop(std::chrono::milliseconds deadline);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace snap::api_detail
