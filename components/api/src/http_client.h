// The client side of snap::ApiServer in run mode: a pool of keep-alive connections to
// one server, with connect and response timeouts. Private to snap_api.
//
// One server name may stand for several replicas (Docker Swarm's dnsrr endpoint mode, a
// headless Kubernetes Service: the name resolves to each replica's address). The pool
// uses every address the name resolves to: successive calls start at successive
// addresses (round robin, pooled connections kept per address), and a call whose address
// refuses or does not answer the connect moves on to the next one.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "snap/env.h"

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
  // The builds of the replicas that refused the call as coming from another build (a 412
  // naming their build in Snap-Build: version_skew.h), in the order asked. When every
  // address refused, `response` is the last refusal.
  std::vector<std::string> refused_by;
  bool refused() const { return !refused_by.empty() && response.status == 412 && failure == Failure::kNone; }
};

struct ClientTimeouts {
  std::chrono::milliseconds connect;
  std::chrono::milliseconds response;
  // Pooled connections idle longer than this are dropped rather than reused: the
  // server may be closing them (its request_timeout) just as we send.
  std::chrono::milliseconds max_idle;
};

// One address a server name resolved to.
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;  // "IP:PORT", for errors and for matching pooled connections
  std::string ip;    // "10.0.1.3", "::1"
};
Address make_address(const sockaddr* addr, socklen_t length);

// Resolves a name to its addresses (in the resolver's order), or sets the error.
using Resolver =
    std::function<std::vector<Address>(const std::string& host, unsigned short port, boost::system::error_code& ec)>;
// getaddrinfo: every address, each once.
std::vector<Address> resolve_all(const std::string& host, unsigned short port, boost::system::error_code& ec);
// `inner` on a thread of its own, waited for at most `timeout`: a lookup that does not
// answer in time fails with host_not_found_try_again (it finishes on its own later).
// Callers that come while a lookup of the same name is in flight wait on that one, so a
// DNS server that does not answer costs one thread, not one per call. getaddrinfo has no
// timeout of its own: with a DNS server that does not answer it blocks for the
// resolver's attempts times its timeout (glibc: 2 × 5 s). IP literals are answered inline.
Resolver bounded_resolver(Resolver inner, std::chrono::milliseconds timeout);

class Connection;

// Thread safety: exchange() may be called from any number of threads at once; each
// exchange holds its own connection.
class ClientPool {
 public:
  // `resolver` is for tests; the default asks getaddrinfo, bounded by the connect timeout.
  // `env`'s steady clock times the resolved answer's age and idle connections (a test's
  // MemoryEnv moves it by hand); it must outlive the pool.
  ClientPool(std::string host, unsigned short port, ClientTimeouts timeouts, Resolver resolver = {},
             Env& env = real_env());
  ~ClientPool();

  // One request on a pooled connection (or a new one), to the next address in turn, or
  // to the ones after it while they refuse the connection -- or, when `build` is given,
  // refuse the call as coming from another build (version_skew.h): it is then asked of
  // each other address once, its handler having run nowhere. Never throws for network
  // failures: they are reported in Exchange::failure (kConnect with the last address's
  // error when none connects).
  // `traceparent` and `tracestate` (W3C Trace Context), `authorization` and `build`
  // (Snap-Build) are sent when not empty (call_headers: the headers a dev call shows its
  // handler too).
  Exchange exchange(std::string_view method, std::string_view target, const std::string& body,
                    std::string_view traceparent = {}, std::string_view tracestate = {},
                    std::string_view authorization = {}, std::string_view build = {});
  // Forgets the resolved addresses: the next exchange asks the resolver again.
  void resolve_again();

  const std::string& host() const { return host_; }
  unsigned short port() const { return port_; }

 private:
  std::unique_ptr<Connection> take(const std::string& address);
  void give_back(std::unique_ptr<Connection> c);
  // The name's addresses, resolved again when older than kResolveEvery (replicas come
  // and go) or when `refresh` (every address just failed).
  std::shared_ptr<const std::vector<Address>> addresses(bool refresh, boost::system::error_code& ec);

  std::string host_;
  unsigned short port_;
  ClientTimeouts timeouts_;
  Resolver resolver_;
  Env& env_;
  std::atomic<unsigned> next_{0};  // where the next call starts, round robin
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mutex_
  std::shared_ptr<const std::vector<Address>> resolved_;  // guarded by mutex_
  std::chrono::steady_clock::time_point resolved_at_;     // guarded by mutex_
};

}  // namespace snap::api_detail
