// The client side of snap::ApiServer in run mode: a pool of keep-alive connections to
// one server, with connect and response timeouts. Private to snap_api.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

namespace snap::api_detail {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// How one exchange failed, which decides whether it may be retried.
enum class Failure {
  kNone,
  kConnect,      // no connection: nothing was sent (refused, unresolvable, connect timeout)
  kBeforeSent,   // the connection broke while writing: the server cannot have a whole request
  kAfterSent,    // the request was sent, then the connection broke: it may have run
  kTimeout,      // the request was sent and no whole response came in time
};

struct Exchange {
  Failure failure = Failure::kNone;
  boost::system::error_code error;
  HttpResponse response;
};

struct ClientTimeouts {
  std::chrono::milliseconds connect;
  std::chrono::milliseconds response;
  // Pooled connections idle longer than this are dropped rather than reused: the
  // server may be closing them (its request_timeout) just as we send.
  std::chrono::milliseconds max_idle;
};

class Connection;

// Thread safety: exchange() may be called from any number of threads at once; each
// exchange holds its own connection.
class ClientPool {
 public:
  ClientPool(std::string host, unsigned short port, ClientTimeouts timeouts);
  ~ClientPool();

  // One request on a pooled connection (or a new one). Never throws for network
  // failures: they are reported in Exchange::failure.
  Exchange exchange(std::string_view method, std::string_view target, const std::string& body);

  const std::string& host() const { return host_; }
  unsigned short port() const { return port_; }

 private:
  std::unique_ptr<Connection> take();
  void give_back(std::unique_ptr<Connection> c);

  std::string host_;
  unsigned short port_;
  ClientTimeouts timeouts_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mutex_
};

}  // namespace snap::api_detail
