#include "http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <system_error>
#include <thread>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "build_header.h"

namespace snap::api_detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {
// Responses come from our own server, but a proxy or a confused peer could send
// anything: cap what one response may make the client buffer.
constexpr std::size_t kResponseLimit = 64u << 20;
// Pooled connections kept per server; more concurrent callers open more connections
// and close the extra ones when they finish.
constexpr std::size_t kMaxIdle = 64;
// How long a name's addresses are reused before asking the resolver again: replicas
// come and go (a swarm's dnsrr answer lists the running ones), and a call must not pay
// a DNS round trip each time.
constexpr std::chrono::seconds kResolveEvery{1};

boost::system::error_code errno_code(int e = errno) { return {e, boost::system::system_category()}; }

timeval to_timeval(std::chrono::nanoseconds d) {
  if (d < std::chrono::microseconds(1)) d = std::chrono::microseconds(1);  // 0 would mean "no timeout"
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}
}  // namespace

// A connected socket used with blocking calls, each bounded by the exchange's deadline
// through SO_RCVTIMEO/SO_SNDTIMEO: as cheap per call as a bare blocking client (one
// send, one recv), where an io_context per call would add an epoll round and timer
// updates. A Beast SyncReadStream/SyncWriteStream.
class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    const net::mutable_buffer b = first(buffers, net::buffer_sequence_begin(buffers), net::buffer_sequence_end(buffers));
    for (;;) {
      if (!arm(SO_RCVTIMEO, ec)) return 0;
      const ssize_t n = ::recv(fd_, b.data(), b.size(), 0);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) {
        ec = net::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(beast::error::timeout) : errno_code();
      return 0;
    }
  }
  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    iovec iov[16];
    int count = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers) && count < 16; ++it) {
      const net::const_buffer b(*it);
      if (b.size() == 0) continue;
      iov[count++] = iovec{const_cast<void*>(b.data()), b.size()};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(count);
    for (;;) {
      if (!arm(SO_SNDTIMEO, ec)) return 0;
      const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(beast::error::timeout) : errno_code();
      return 0;
    }
  }
  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    boost::system::error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // Whether the server closed this idle connection (readable now means EOF or
  // unexpected data: either way it cannot carry a request).
  bool closed_by_peer() const {
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
  std::string address;  // Address::text of the peer

 private:
  template <typename Buffers, typename It>
  static net::mutable_buffer first(const Buffers&, It it, It end) {
    for (; it != end; ++it) {
      net::mutable_buffer b(*it);
      if (b.size() != 0) return b;
    }
    return {};
  }
  // The socket timeout is what is left of the deadline; set only when it changed by more
  // than a millisecond, so most calls cost no extra system call.
  bool arm(int option, boost::system::error_code& ec) {
    const auto left = deadline_ - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds(0)) {
      ec = make_error_code(beast::error::timeout);
      return false;
    }
    auto& armed = option == SO_RCVTIMEO ? rcv_armed_ : snd_armed_;
    if (armed.has_value() && *armed - left < std::chrono::milliseconds(1) && left - *armed < std::chrono::milliseconds(1)) {
      return true;
    }
    const timeval tv = to_timeval(left);
    ::setsockopt(fd_, SOL_SOCKET, option, &tv, sizeof tv);
    armed = left;
    return true;
  }

  int fd_;
  std::chrono::steady_clock::time_point deadline_;
  std::optional<std::chrono::nanoseconds> rcv_armed_, snd_armed_;
};

namespace {

// A blocking-mode socket connected to `a` within `timeout` (non-blocking connect + poll),
// or the error.
std::unique_ptr<Connection> connect_to(const Address& a, std::chrono::milliseconds timeout,
                                       boost::system::error_code& ec) {
  const int fd = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ec = errno_code();
    return nullptr;
  }
  auto c = std::make_unique<Connection>(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length) != 0) {
    if (errno != EINPROGRESS) {
      ec = errno_code();
      return nullptr;
    }
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready <= 0) {
      ec = ready == 0 ? make_error_code(net::error::timed_out) : errno_code();
      return nullptr;
    }
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      ec = errno_code(error);
      return nullptr;
    }
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->address = a.text;
  ec = {};
  return c;
}

}  // namespace

Address make_address(const sockaddr* addr, socklen_t length) {
  Address a;
  std::memcpy(&a.storage, addr, std::min<std::size_t>(length, sizeof a.storage));
  a.length = length;
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned short port = 0;
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    ::inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    port = ntohs(in->sin_port);
    a.ip = ip;
    a.text = a.ip + ":" + std::to_string(port);
  } else if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
    a.ip = ip;
    a.text = "[" + a.ip + "]:" + std::to_string(port);
  }
  return a;
}

std::vector<Address> resolve_all(const std::string& host, unsigned short port, boost::system::error_code& ec) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    ec = rc == EAI_NONAME || rc == EAI_AGAIN ? make_error_code(net::error::host_not_found)
                                             : make_error_code(net::error::host_not_found_try_again);
    return {};
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);
  std::vector<Address> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    Address address = make_address(a->ai_addr, a->ai_addrlen);
    if (address.text.empty()) continue;
    bool seen = false;
    for (const Address& o : out) seen = seen || o.text == address.text;
    if (!seen) out.push_back(std::move(address));
  }
  ec = out.empty() ? make_error_code(net::error::host_not_found) : boost::system::error_code{};
  return out;
}

namespace {
// One lookup on its thread; callers wait on it, and may stop waiting before it ends.
struct Lookup {
  std::string host;
  unsigned short port = 0;
  std::mutex mutex;
  std::condition_variable done_changed;
  bool done = false;  // guarded by mutex, as the two below
  std::vector<Address> found;
  boost::system::error_code ec;
};
}  // namespace

Resolver bounded_resolver(Resolver inner, std::chrono::milliseconds timeout) {
  // The lookup in flight, shared by the callers that come while it runs: a DNS server that
  // does not answer costs one thread, not one per call.
  struct Shared {
    std::mutex mutex;
    std::shared_ptr<Lookup> in_flight;  // guarded by mutex
  };
  auto shared = std::make_shared<Shared>();
  return [inner = std::move(inner), timeout, shared](const std::string& host, unsigned short port,
                                                     boost::system::error_code& ec) -> std::vector<Address> {
    // An IP literal needs no lookup: answered at once, no thread.
    unsigned char literal[sizeof(in6_addr)];
    if (inet_pton(AF_INET, host.c_str(), literal) == 1 || inet_pton(AF_INET6, host.c_str(), literal) == 1) {
      return inner(host, port, ec);
    }
    std::shared_ptr<Lookup> lookup;
    {
      std::lock_guard lock(shared->mutex);
      if (shared->in_flight && shared->in_flight->host == host && shared->in_flight->port == port) {
        std::lock_guard lookup_lock(shared->in_flight->mutex);
        if (!shared->in_flight->done) lookup = shared->in_flight;
      }
      if (!lookup) {
        lookup = std::make_shared<Lookup>();
        lookup->host = host;
        lookup->port = port;
        try {
          // The thread shares the lookup, which may outlive this call and the resolver.
          std::thread([lookup, inner] {
            boost::system::error_code e;
            std::vector<Address> found = inner(lookup->host, lookup->port, e);
            std::lock_guard lookup_lock(lookup->mutex);
            lookup->found = std::move(found);
            lookup->ec = e;
            lookup->done = true;
            lookup->done_changed.notify_all();
          }).detach();
        } catch (const std::system_error&) {  // no thread to be had: as a lookup that failed
          ec = make_error_code(net::error::host_not_found_try_again);
          return {};
        }
        shared->in_flight = lookup;
      }
    }
    std::unique_lock lock(lookup->mutex);
    if (!lookup->done_changed.wait_for(lock, timeout, [&] { return lookup->done; })) {
      ec = make_error_code(net::error::host_not_found_try_again);
      return {};
    }
    ec = lookup->ec;
    return lookup->found;  // a copy: other callers may read the same lookup
  };
}

ClientPool::ClientPool(std::string host, unsigned short port, ClientTimeouts timeouts, Resolver resolver, Env& env)
    : host_(std::move(host)),
      port_(port),
      timeouts_(timeouts),
      resolver_(resolver ? std::move(resolver) : bounded_resolver(resolve_all, timeouts.connect)),
      env_(env) {}

ClientPool::~ClientPool() = default;

std::shared_ptr<const std::vector<Address>> ClientPool::addresses(bool refresh, boost::system::error_code& ec) {
  const auto now = env_.steady_now();
  {
    std::lock_guard lock(mutex_);
    if (resolved_ && !refresh && now - resolved_at_ < kResolveEvery) return resolved_;
  }
  // Resolved outside the lock: a slow DNS answer must not hold up calls on pooled connections.
  auto found = std::make_shared<const std::vector<Address>>(resolver_(host_, port_, ec));
  if (found->empty()) {
    if (!ec) ec = make_error_code(net::error::host_not_found);
    return nullptr;
  }
  std::lock_guard lock(mutex_);
  resolved_ = found;
  resolved_at_ = now;
  return found;
}

std::unique_ptr<Connection> ClientPool::take(const std::string& address) {
  const auto now = env_.steady_now();
  std::lock_guard lock(mutex_);
  for (std::size_t i = idle_.size(); i-- > 0;) {
    if (idle_[i]->address != address) continue;
    std::unique_ptr<Connection> c = std::move(idle_[i]);
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
    if (now - c->idle_since < timeouts_.max_idle && !c->closed_by_peer()) return c;
  }
  return nullptr;
}

void ClientPool::give_back(std::unique_ptr<Connection> c) {
  c->idle_since = env_.steady_now();
  std::lock_guard lock(mutex_);
  // Full: the oldest goes (it may be to a replica that is gone), not the one just used.
  if (idle_.size() >= kMaxIdle) idle_.erase(idle_.begin());
  idle_.push_back(std::move(c));
}

void ClientPool::resolve_again() {
  std::lock_guard lock(mutex_);
  resolved_at_ = {};
}

Exchange ClientPool::exchange(std::string_view method, std::string_view target, const std::string& body,
                             std::string_view traceparent, std::string_view tracestate,
                             std::string_view authorization, std::string_view build) {
  boost::system::error_code ec;
  const std::shared_ptr<const std::vector<Address>> list = addresses(false, ec);
  if (!list) return Exchange{Failure::kConnect, ec, {}, {}};

  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, host_);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  if (!traceparent.empty()) request.set("traceparent", traceparent);
  if (!tracestate.empty()) request.set("tracestate", tracestate);
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  if (!build.empty()) request.set(kBuildHeader, build);
  request.body() = body;
  request.keep_alive(true);
  request.prepare_payload();

  // Round robin over the addresses; one that refuses the connection (a replica gone, or
  // not listening yet) or the call (another build) passes it on to the next.
  Exchange result;
  const std::size_t n = list->size();
  const std::size_t start = n == 1 ? 0 : next_.fetch_add(1, std::memory_order_relaxed) % n;
  bool connected = false;
  for (std::size_t i = 0; i < n; ++i) {
    const Address& a = (*list)[(start + i) % n];
    std::unique_ptr<Connection> c = take(a.text);
    if (!c) c = connect_to(a, timeouts_.connect, ec);
    if (!c) continue;
    connected = true;
    c->set_deadline(std::chrono::steady_clock::now() + timeouts_.response);
    ec = {};
    http::write(*c, request, ec);
    if (ec) return Exchange{ec == beast::error::timeout ? Failure::kTimeout : Failure::kBeforeSent, ec, {}, {}};

    http::response_parser<http::string_body> parser;
    parser.body_limit(kResponseLimit);
    http::read(*c, c->buffer, parser, ec);
    if (ec) return Exchange{ec == beast::error::timeout ? Failure::kTimeout : Failure::kAfterSent, ec, {}, {}};

    auto& response = parser.get();
    result.response.status = static_cast<int>(response.result_int());
    result.response.body = std::move(response.body());
    const auto refused_by = response.find(kBuildHeader);
    const bool refused =
        !build.empty() && result.response.status == 412 && refused_by != response.end() && refused_by->value() != build;
    if (refused) result.refused_by.emplace_back(refused_by->value());
    if (response.keep_alive()) give_back(std::move(c));
    if (!refused) return result;
  }
  if (!connected) {
    // None answered: the next attempt (the caller backs off) asks the resolver again,
    // since the replicas may have moved.
    resolve_again();
    return Exchange{Failure::kConnect, ec, {}, {}};
  }
  return result;  // every replica that answered is another build's: the last refusal
}

}  // namespace snap::api_detail
