// The HTTP/1.1 server under snap::ApiServer (run mode): Boost.Beast over Asio, one
// strand per connection, limits from ApiServerOptions. Private to snap_api.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "snap/api_server.h"

namespace snap::api_detail {

struct HttpReply {
  int status = 200;
  std::string body;  // JSON, or empty for 204
};

// Called on a server thread for each complete request.
using HttpDispatch = std::function<HttpReply(std::string_view method, std::string_view target, std::string_view body)>;

class HttpServer {
 public:
  // `logger` must outlive the server.
  HttpServer(const ApiServerOptions& options, spdlog::logger& logger, HttpDispatch dispatch);
  ~HttpServer();  // stops at once if stop() was not called
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `port` on each address (IP literals) and starts the threads. Throws
  // std::runtime_error naming the address when one cannot be bound (none stays bound).
  void start(const std::vector<std::string>& addresses, unsigned short port);
  // After start(): listens on one more address, on the same port. False (and nothing
  // done) once the server stops accepting; throws as start() when it cannot bind. Any thread.
  bool listen_also(const std::string& address);
  // Closes the listening socket (new connections are refused once this returns) and
  // the connections waiting for a request; requests in flight finish with
  // `Connection: close`. Any thread, idempotent.
  void stop_accepting();
  // stop_accepting(), then waits up to `deadline` for connections in flight to finish,
  // then closes what is left and joins the threads.
  void stop(std::chrono::milliseconds deadline);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace snap::api_detail
