#include "http_server.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>

namespace snap::api_detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// After an error response that closes the connection, the client may still be sending
// (the body we refused). Closing with unread data makes the kernel send RST, which can
// destroy our response before the client reads it; so we shut down our side and discard
// what still arrives for at most this long, then close.
constexpr std::chrono::milliseconds kLingerTime{1'000};

std::string error_body(ErrorCode code, std::string_view message) {
  boost::json::object o;
  o["code"] = to_string(code);
  o["message"] = message;
  return boost::json::serialize(o);
}

}  // namespace

class Session;
using Clock = std::chrono::steady_clock;

struct HttpServer::Impl {
  Impl(const ApiServerOptions& o, spdlog::logger& l, HttpDispatch d)
      : options(o), logger(l), dispatch(std::move(d)), ioc(static_cast<int>(thread_count())) {}

  unsigned thread_count() const {
    if (options.threads != 0) return options.threads;
    return std::max(2u, std::thread::hardware_concurrency());
  }

  void accept(tcp::acceptor& acceptor);
  void sweep();  // closes the connections whose deadline has passed, then re-arms
  std::chrono::milliseconds sweep_period() const;
  void on_accept(tcp::acceptor& acceptor, beast::error_code ec, tcp::socket socket);
  void session_ended(Session* s);

  const ApiServerOptions& options;
  spdlog::logger& logger;
  HttpDispatch dispatch;
  // Declared before ioc: destroying ioc destroys the handlers still queued, and with
  // them the last Sessions, which unregister here.
  std::mutex mutex;
  std::condition_variable all_closed;
  std::map<Session*, std::weak_ptr<Session>> sessions;  // guarded by mutex
  net::io_context ioc;
  // One per listening address, each on its own strand; a deque so they never move.
  // The mutex orders listen_also() against stop_accepting().
  std::mutex acceptors_mutex;
  std::deque<tcp::acceptor> acceptors;  // guarded by acceptors_mutex
  unsigned short port = 0;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  net::steady_timer sweeper{net::make_strand(ioc)};
};

// One connection: read a request (fresh parser with the limits each time), dispatch,
// write, repeat while keep-alive. Everything runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server) : stream_(std::move(socket)), server_(server) {}
  ~Session() { server_->session_ended(this); }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  // Called by the sweep: closes the connection if its deadline has passed (checked again
  // on the strand: the connection may have moved on since).
  void expire() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->past_deadline(Clock::now())) return;
      self->timed_out_ = true;
      self->close();
    });
  }
  bool past_deadline(Clock::time_point now) const { return now.time_since_epoch().count() > deadline_.load(); }

  // Graceful stop: close if waiting for a request; otherwise close after the response.
  void stop() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      // Closed, not cancelled: a composed read may not have reached the socket yet
      // (its first step is posted), and would then wait out the request timeout.
      if (self->reading_) self->close();
    });
  }

 private:
  void read() {
    if (stopping_) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(server_->options.header_limit, UINT32_MAX)));
    parser_->body_limit(server_->options.body_limit);
    // One deadline for the whole request: a client trickling bytes (slowloris) or an
    // idle keep-alive connection is closed when it passes.
    set_deadline(server_->options.request_timeout);
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (timed_out_) {
      server_->logger.debug("connection closed: no complete request within {} ms", server_->options.request_timeout.count());
      return close();
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted) return close();
    if (ec == http::error::body_limit) {
      return refuse(413, ErrorCode::kResourceExhausted,
                    "request body over the limit of " + std::to_string(server_->options.body_limit) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return refuse(431, ErrorCode::kResourceExhausted,
                    "request headers over the limit of " + std::to_string(server_->options.header_limit) + " bytes");
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      return refuse(400, ErrorCode::kInvalidArgument, "malformed HTTP request: " + ec.message());
    }
    if (ec) {
      server_->logger.debug("connection closed: {}", ec.message());
      return close();
    }

    auto& request = parser_->get();
    const bool log_request = server_->logger.should_log(spdlog::level::debug);  // the clock only when it is logged
    const auto started = log_request ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    HttpReply reply = server_->dispatch(request.method_string(), request.target(), request.body());
    if (log_request) {
      server_->logger.debug(
          "{} {} {} {} us", std::string_view(request.method_string()), std::string_view(request.target()), reply.status,
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count());
    }
    const bool keep_alive = request.keep_alive() && !stopping_ && !server_->stopping.load();
    respond(reply.status, std::move(reply.body), keep_alive);
  }

  void refuse(int status, ErrorCode code, const std::string& message) {
    server_->logger.warn("refused a request with {}: {}", status, message);
    respond(status, error_body(code, message), false);
  }

  void respond(int status, std::string body, bool keep_alive) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(status));
    if (!body.empty()) response_.set(http::field::content_type, "application/json");
    response_.body() = std::move(body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    set_deadline(server_->options.write_timeout);
    http::async_write(stream_, response_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (!keep_alive || self->stopping_) return self->linger();
      self->read();
    });
  }

  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    set_deadline(kLingerTime);
    drain();
  }
  void drain() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  // Deadlines are kept here and enforced by the server's sweep (HttpServer::Impl::sweep)
  // rather than by a timer per operation: re-arming a timer twice per request cost about
  // 5% of the throughput (bench/README.md, "ApiServer").
  void set_deadline(std::chrono::milliseconds from_now) { deadline_ = (Clock::now() + from_now).time_since_epoch().count(); }

  beast::tcp_stream stream_;
  std::atomic<Clock::rep> deadline_{std::numeric_limits<Clock::rep>::max()};  // set on the strand, read by the sweep
  bool timed_out_ = false;  // strand only
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> scratch_{};
  HttpServer::Impl* server_;  // outlives every session (see Impl's member order)
  bool reading_ = false;   // strand only
  bool stopping_ = false;  // strand only
};

std::chrono::milliseconds HttpServer::Impl::sweep_period() const {
  // A quarter of the shortest deadline: a connection is closed at most 25% late.
  const auto shortest = std::min({options.request_timeout, options.write_timeout, kLingerTime});
  return std::clamp(shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(1'000));
}

void HttpServer::Impl::sweep() {
  std::vector<std::shared_ptr<Session>> expired;
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex);
    for (auto& [ptr, weak] : sessions) {
      if (auto session = weak.lock(); session && session->past_deadline(now)) expired.push_back(std::move(session));
    }
  }
  for (auto& session : expired) session->expire();
  sweeper.expires_after(sweep_period());
  sweeper.async_wait([this](beast::error_code ec) {
    if (!ec) sweep();
  });
}

void HttpServer::Impl::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept(net::make_strand(ioc), [self = this, &acceptor](beast::error_code ec, tcp::socket socket) {
    self->on_accept(acceptor, ec, std::move(socket));
  });
}

void HttpServer::Impl::on_accept(tcp::acceptor& acceptor, beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
  if (ec) {
    // EMFILE and the like: the listener stays up; the next accept may succeed.
    logger.warn("accept failed: {}", ec.message());
    return accept(acceptor);
  }
  socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mutex);
    if (sessions.size() >= options.max_connections) {
      logger.warn("connection refused: {} connections open (max_connections)", sessions.size());
      socket.close(ec);
      return accept(acceptor);
    }
    session = std::make_shared<Session>(std::move(socket), this);
    sessions[session.get()] = session;
  }
  session->start();
  accept(acceptor);
}

void HttpServer::Impl::session_ended(Session* s) {
  std::lock_guard lock(mutex);
  sessions.erase(s);
  if (sessions.empty()) all_closed.notify_all();
}

HttpServer::HttpServer(const ApiServerOptions& options, spdlog::logger& logger, HttpDispatch dispatch)
    : impl_(std::make_unique<Impl>(options, logger, std::move(dispatch))) {}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

namespace {
// A listening socket on address:port, or the error naming both.
void open_listener(tcp::acceptor& acceptor, const std::string& address, unsigned short port) {
  beast::error_code ec;
  const net::ip::address ip = net::ip::make_address(address, ec);
  if (ec) throw std::runtime_error("cannot listen on \"" + address + "\": not an IP address");
  const tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
}
}  // namespace

void HttpServer::start(const std::vector<std::string>& addresses, unsigned short port) {
  if (addresses.empty()) throw std::invalid_argument("HttpServer::start: no address to listen on");
  impl_->port = port;
  {
    std::lock_guard lock(impl_->acceptors_mutex);
    for (const std::string& address : addresses) {
      try {
        open_listener(impl_->acceptors.emplace_back(net::make_strand(impl_->ioc)), address, port);
      } catch (...) {
        impl_->acceptors.clear();
        throw;
      }
    }
    for (tcp::acceptor& acceptor : impl_->acceptors) impl_->accept(acceptor);
  }
  net::dispatch(impl_->sweeper.get_executor(), [impl = impl_.get()] { impl->sweep(); });
  const unsigned n = impl_->thread_count();
  for (unsigned i = 0; i < n; ++i) impl_->threads.emplace_back([impl = impl_.get()] { impl->ioc.run(); });
}

bool HttpServer::listen_also(const std::string& address) {
  std::lock_guard lock(impl_->acceptors_mutex);
  if (impl_->stopping) return false;
  tcp::acceptor acceptor(net::make_strand(impl_->ioc));
  open_listener(acceptor, address, impl_->port);
  impl_->accept(impl_->acceptors.emplace_back(std::move(acceptor)));
  return true;
}

void HttpServer::stop_accepting() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->threads.empty()) return;
  // Each closed on its own strand, and waited for: once this returns, connects are refused.
  std::lock_guard acceptors_lock(impl_->acceptors_mutex);
  for (tcp::acceptor& acceptor : impl_->acceptors) {
    std::promise<void> closed;
    net::dispatch(acceptor.get_executor(), [&acceptor, &closed] {
      beast::error_code ignored;
      acceptor.close(ignored);
      closed.set_value();
    });
    closed.get_future().wait();
  }
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [ptr, weak] : impl_->sessions) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (auto& s : open) s->stop();
}

void HttpServer::stop(std::chrono::milliseconds deadline) {
  if (impl_->threads.empty()) return;
  stop_accepting();
  {
    std::unique_lock lock(impl_->mutex);
    if (!impl_->all_closed.wait_for(lock, deadline, [&] { return impl_->sessions.empty(); })) {
      impl_->logger.warn("stop: {} connections still open after {} ms; closing them", impl_->sessions.size(),
                         deadline.count());
    }
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace snap::api_detail
