#include "http_server.h"

#include "build_header.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/json/serialize.hpp>

#include "build_header.h"

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

// After a failed accept (EMFILE: out of descriptors) the listener pauses before the next
// one, from this doubling to kMaxAcceptBackoff (Go's net/http does the same): retrying at
// once spins a core and floods the log while nothing can be accepted anyway.
constexpr std::chrono::milliseconds kFirstAcceptBackoff{5};
constexpr std::chrono::milliseconds kMaxAcceptBackoff{1'000};
// At a cap, how many connections are asked in turn (oldest idle first) to make room for
// a new one before it is refused; one that was found busy has just received a request.
constexpr int kEvictionAttempts = 4;

std::string error_body(ErrorCode code, std::string_view message) {
  boost::json::object o;
  o["code"] = to_string(code);
  o["message"] = message;
  return boost::json::serialize(o);
}

// The bytes of request bodies all connections hold at once (ApiServerOptions::body_budget).
// body_limit bounds one body; without this, max_connections clients each sending a body
// just under it make the server hold max_connections x body_limit (4 GiB by default).
class BodyBudget {
 public:
  explicit BodyBudget(std::size_t capacity) : capacity_(capacity) {}
  // Takes `n` bytes, or nothing and false when that would go over the budget.
  bool take(std::size_t n) {
    std::size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (n > capacity_ - used) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  void give_back(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  std::atomic<std::size_t> used_{0};
};

// A request body as a string whose bytes are taken from the server's BodyBudget as they
// become known (the whole Content-Length before any of it is read; a chunked body as it
// arrives) and given back when the request is destroyed (Session: once it has been
// handled, before the response is written to a client that may read it slowly). Over the
// budget, the read stops
// with `over_budget` set. Otherwise http::string_body.
struct BudgetedBody {
  struct value_type {
    value_type() = default;
    value_type(const value_type&) = delete;
    value_type& operator=(const value_type&) = delete;
    ~value_type() {
      if (taken != 0) budget->give_back(taken);
    }
    std::string text;
    BodyBudget* budget = nullptr;  // set before the read; outlives every request
    std::size_t taken = 0;
    bool over_budget = false;
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      ec = {};
      if (!length || *length == 0) return;
      known_length_ = true;
      // The parser has checked it against body_limit already.
      if (!take(static_cast<std::size_t>(*length), ec)) return;
      body_.text.reserve(static_cast<std::size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      const std::size_t extra = beast::buffer_bytes(buffers);
      if (!known_length_ && !take(extra, ec)) return 0;
      const std::size_t size = body_.text.size();
      body_.text.resize(size + extra);
      net::buffer_copy(net::buffer(body_.text.data() + size, extra), buffers);
      return extra;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    bool take(std::size_t n, beast::error_code& ec) {
      if (body_.budget->take(n)) {
        body_.taken += n;
        return true;
      }
      body_.over_budget = true;
      ec = net::error::no_buffer_space;  // what on_read sees; over_budget says why
      return false;
    }

    value_type& body_;
    bool known_length_ = false;
  };
};

// Why a request's Transfer-Encoding cannot be served (status 0: it can). RFC 9112 §6.3:
// a request whose final coding is not chunked has no length we can know; reading it as
// empty and the rest as the next request is how requests are smuggled past a proxy that
// reads it otherwise.
struct TransferEncodingProblem {
  int status = 0;  // 0: none
  ErrorCode code = ErrorCode::kUnknown;
  std::string message;
};
template <class Fields>
TransferEncodingProblem transfer_encoding_problem(const Fields& fields, bool chunked) {
  if (fields.count(http::field::transfer_encoding) == 0) return {};
  std::string codings;
  std::size_t count = 0;
  const auto [first, last] = fields.equal_range(http::field::transfer_encoding);
  for (auto field = first; field != last; ++field) {
    for (const auto coding : http::token_list(field->value())) {
      if (!codings.empty()) codings += ", ";
      codings += coding;
      ++count;
    }
  }
  if (!chunked) {
    return {400, ErrorCode::kInvalidArgument,
            "malformed HTTP request: Transfer-Encoding \"" + codings +
                "\" does not end in a single chunked, so the body's length is unknown"};
  }
  if (count != 1) {  // chunked, after codings we do not decode
    return {501, ErrorCode::kUnimplemented,
            "Transfer-Encoding \"" + codings + "\": only chunked is supported"};
  }
  return {};
}

}  // namespace

std::string handlers_busy_message(const ApiServerOptions& options) {
  return "server busy: every handler thread is running (handler_threads " + std::to_string(options.handler_threads) +
         ") and the queue is full (handler_queue " + std::to_string(options.handler_queue) + "); retry later";
}

class Session;
using Clock = std::chrono::steady_clock;

namespace {

// A warning that may repeat thousands of times a second (accept failures, refusals under
// a flood) is logged at most once a second, with how many times it happened meanwhile.
class LogThrottle {
 public:
  // 0 to stay quiet; else the number of occurrences this line stands for (this one included).
  std::size_t due(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    ++pending_;
    if (logged_ && now - last_ < std::chrono::seconds(1)) return 0;
    logged_ = true;
    last_ = now;
    return std::exchange(pending_, 0);
  }

 private:
  std::mutex mutex_;
  bool logged_ = false;
  Clock::time_point last_;
  std::size_t pending_ = 0;
};

}  // namespace

// One listening address: its acceptor and, on the same strand, the pause after a
// failed accept.
struct Listener {
  Listener(net::io_context& ioc, Audience audience)
      : acceptor(net::make_strand(ioc)), retry(acceptor.get_executor()), audience(audience) {}
  tcp::acceptor acceptor;
  net::steady_timer retry;
  Audience audience;
  std::chrono::milliseconds backoff{0};  // 0 while accepts succeed
};

// At most `running_limit` handlers at once and `queue_limit` requests waiting for one; a
// request beyond that is refused, never waited for.
class HandlerAdmission {
 public:
  void configure(unsigned running_limit, std::size_t queue_limit) {
    running_limit_ = running_limit;
    queue_limit_ = queue_limit;
  }
  enum class Admission {
    kRunNow,          // the caller runs the handler, then calls finished()
    kQueued,          // kept; a finished() hands it its turn
    kRefused,         // `running_limit` run and `queue_limit` wait (or the server is stopping)
    kStartsRefusing,  // kRefused, the first since a request was admitted
  };
  Admission admit(const std::shared_ptr<Session>& session);
  // A handler returned: the request whose turn it is now (it holds that handler's place),
  // or null.
  std::shared_ptr<Session> finished();
  // Stop: admits nothing more and drops the requests waiting (their connections close).
  void drop_waiting();

 private:
  std::mutex mutex_;
  unsigned running_limit_ = 1;
  std::size_t queue_limit_ = 0;
  unsigned running_ = 0;                          // guarded by mutex_
  std::deque<std::shared_ptr<Session>> waiting_;  // guarded by mutex_
  bool refusing_ = false;                         // guarded by mutex_; refused since the last admitted
  bool stopping_ = false;                         // guarded by mutex_
};

// The server's threads. Handlers run where their request was read, on a thread running
// the io_context, so a quick handler costs no hand-off. `io_threads` of them run the
// io_context; `spares` wait. A thread whose handler has run for kTakeOverAfter is taken
// over: a spare starts running the io_context in its place (so `io_threads` threads keep
// doing I/O and answering /healthz however many handlers block), and the thread becomes
// a spare when its handler returns. Admission keeps the handlers running at once within
// the number of spares.
class Threads {
 public:
  // Long enough that a handler not waiting on anything is never taken over; short next
  // to any client's timeout (the health probe waits 2 s).
  static constexpr std::chrono::milliseconds kTakeOverAfter{5};

  void start(net::io_context& ioc, unsigned io_threads, unsigned spares);
  // After ioc.stop(): the threads return once their handlers have; joins them.
  void stop();
  bool started() const { return !threads_.empty(); }
  // Around a handler, on the thread that runs it.
  static void handler_starts();
  static void handler_ends();

 private:
  struct Slot {
    std::atomic<std::uint64_t> handlers{0};  // odd while in a handler
    std::atomic<bool> taken_over{false};
  };
  void run(Slot& slot, bool spare);
  bool park();  // false: stopping
  void watch();

  static thread_local Slot* current_;
  net::io_context* ioc_ = nullptr;
  std::unique_ptr<Slot[]> slots_;
  unsigned slot_count_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  unsigned wake_spares_ = 0;  // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  std::vector<std::thread> threads_;
  std::thread watcher_;
};

struct HttpServer::Impl {
  Impl(const ApiServerOptions& o, spdlog::logger& l, HttpRoutes r)
      : options(o),
        logger(l),
        routes(std::move(r)),
        body_budget(o.body_budget),
        ioc(static_cast<int>(thread_count() + options.handler_threads)) {}

  unsigned thread_count() const {
    if (options.threads != 0) return options.threads;
    return std::max(2u, std::thread::hardware_concurrency());
  }
  std::size_t per_peer_cap() const {
    if (options.max_connections_per_peer != 0) return options.max_connections_per_peer;
    return std::max<std::size_t>(1, options.max_connections / 2);
  }

  void accept(Listener& listener);
  void sweep();  // closes the connections whose deadline has passed, then re-arms
  std::chrono::milliseconds sweep_period() const;
  void on_accept(Listener& listener, beast::error_code ec, tcp::socket socket);
  void retry_accept_later(Listener& listener, const beast::error_code& ec);
  // Starts a session for `socket`, or at a cap asks the oldest idle connection to make
  // room and tries again (`attempts_left` times), or closes it; then accepts the next.
  void admit(Listener& listener, tcp::socket socket, int attempts_left);
  // The connection (of `peer`, or of anyone) that has waited longest for a request with
  // nothing received; null if none. Caller holds `mutex`.
  std::shared_ptr<Session> oldest_idle(const net::ip::address* peer);
  // Takes `s` out of the open connections (it was closed); idempotent. Caller holds `mutex`.
  void forget(Session* s);
  void session_ended(Session* s);

  const ApiServerOptions& options;
  spdlog::logger& logger;
  HttpRoutes routes;
  BodyBudget body_budget;  // before ioc: the requests the last Sessions hold give back to it
  // Declared before ioc: destroying ioc destroys the handlers still queued, and with
  // them the last Sessions, which unregister here.
  std::mutex mutex;
  std::condition_variable all_closed;
  std::map<Session*, std::weak_ptr<Session>> sessions;  // the open connections; guarded by mutex
  std::map<net::ip::address, std::size_t> connections_per_peer;  // of `sessions`; guarded by mutex
  LogThrottle accept_failures_log, refusals_log, evictions_log;
  net::io_context ioc;
  // One per listening address, each on its own strand; a deque so they never move.
  // The mutex orders listen_also() against stop_accepting().
  std::mutex listeners_mutex;
  std::deque<Listener> listeners;  // guarded by listeners_mutex
  unsigned short port = 0;
  std::atomic<bool> stopping{false};
  net::steady_timer sweeper{net::make_strand(ioc)};
  // Its waiting requests hold Sessions, which unregister above when dropped.
  HandlerAdmission handlers;
  Threads runners;
};

// One connection: read a request (fresh parser with the limits each time), route it,
// run its handler on the handler pool, write, repeat while keep-alive. Everything but
// the handler runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, net::ip::address peer, Audience audience, HttpServer::Impl* server)
      : stream_(std::move(socket)), peer_(std::move(peer)), audience_(audience), server_(server) {}
  ~Session() { server_->session_ended(this); }

  const net::ip::address& peer() const { return peer_; }
  // Since when it has waited for a request of which nothing has been read (idle
  // keep-alive, or accepted and silent); kNotWaiting while busy. Read under the
  // server's mutex to pick the connection closed first at a cap.
  static constexpr Clock::rep kNotWaiting = std::numeric_limits<Clock::rep>::max();
  Clock::rep waiting_since() const { return waiting_since_.load(std::memory_order_relaxed); }

  // At a cap: closes the connection if it still has received nothing of its next request
  // (checked on the strand; it may have moved on since it was picked), then calls
  // `done()` on the strand. A request can only be lost if its first bytes arrive
  // in the instant of this check: the race every keep-alive client must already handle
  // (RFC 9112, 9.6), since a server may close an idle connection at any time.
  template <typename Done>
  void close_if_idle(Done done) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), done = std::move(done)]() mutable {
      beast::error_code ec;
      const bool idle = self->waiting_since_.load(std::memory_order_relaxed) != kNotWaiting && self->buffer_.size() == 0 &&
                        !self->parser_->got_some() && self->stream_.socket().available(ec) == 0 && !ec;
      if (idle) {
        {
          std::lock_guard lock(self->server_->mutex);
          self->server_->forget(self.get());
        }
        self->evicted_ = true;
        self->close();
      }
      done();
    });
  }

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
    parser_->get().body().budget = &server_->body_budget;
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(server_->options.header_limit, UINT32_MAX)));
    parser_->body_limit(server_->options.body_limit);
    // One deadline for the whole request: a client trickling bytes (slowloris) or an
    // idle keep-alive connection is closed when it passes.
    const auto now = Clock::now();
    set_deadline(now, server_->options.request_timeout);
    // Bytes already buffered (a pipelined request) make it busy, not idle.
    if (buffer_.size() == 0) waiting_since_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    waiting_since_.store(kNotWaiting, std::memory_order_relaxed);
    if (evicted_) {
      server_->logger.debug("connection closed: idle at a connection cap, to admit a new one");
      return close();
    }
    if (timed_out_) {
      server_->logger.debug("connection closed: no complete request within {} ms", server_->options.request_timeout.count());
      return close();
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted) return close();
    if (parser_->get().body().over_budget) {
      // Refused rather than waited for: a client that trickles its body in would hold
      // the budget for others waiting; 503 says "retry", Retry-After when.
      return refuse(503, ErrorCode::kResourceExhausted,
                    "request bodies in flight over the server's budget of " +
                        std::to_string(server_->body_budget.capacity()) + " bytes; retry later");
    }
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
    if (auto problem = transfer_encoding_problem(request.base(), parser_->chunked()); problem.status != 0) {
      // Whatever follows the header is not read as a request: the connection is closed.
      return refuse(problem.status, problem.code, problem.message);
    }
    // HEAD is GET without the body (RFC 9110 §9.3.2): the same status and headers.
    head_ = request.method() == http::verb::head;
    log_request_ = server_->logger.should_log(spdlog::level::debug);  // the clock only when it is logged
    if (log_request_) started_ = Clock::now();
    Routing routing = server_->routes.route(head_ ? std::string_view("GET") : std::string_view(request.method_string()),
                                            request.target(), audience_);
    if (!routing.route) return answer(std::move(routing.reply));
    route_ = *routing.route;
    // Neither timeout is the client's fault while its handler runs (or waits for a
    // thread); the sweep leaves the connection alone until the reply is written.
    deadline_ = std::numeric_limits<Clock::rep>::max();
    const auto admission = server_->handlers.admit(shared_from_this());
    if (admission == HandlerAdmission::Admission::kRunNow) return run_handler();
    if (admission == HandlerAdmission::Admission::kQueued) return;
    const std::string message = handlers_busy_message(server_->options);
    // Once per overload, not once per request: under overload the log would cost most.
    if (admission == HandlerAdmission::Admission::kStartsRefusing) {
      server_->logger.warn("refusing requests with 429 until a handler thread is free: {}", message);
    }
    answer({http_status(ErrorCode::kResourceExhausted), error_body(ErrorCode::kResourceExhausted, message)});
  }

 public:
  // On the strand, once admitted: the handler, then the turn of the next request waiting.
  void run_handler() {
    Threads::handler_starts();
    const auto& request = parser_->get();
    // Views of the parsed fields for the handler's RequestInfo; room on the stack for
    // what real clients send, so that a request costs no allocation for them.
    boost::container::small_vector<Header, 16> headers;
    for (const auto& field : request) headers.push_back({field.name_string(), field.value()});
    HttpReply reply = server_->routes.handle(
        route_, IncomingRequest{std::string_view(request.target().data(), request.target().size()), request.body().text,
                                request["traceparent"], request["tracestate"], headers});
    Threads::handler_ends();
    if (std::shared_ptr<Session> next = server_->handlers.finished()) {
      net::post(next->stream_.get_executor(), [next] { next->run_handler(); });
    }
    answer(std::move(reply));
  }

 private:
  void answer(HttpReply reply) {
    const auto& request = parser_->get();
    if (log_request_) {
      server_->logger.debug("{} {} {} {} us", std::string_view(request.method_string()),
                            std::string_view(request.target()), reply.status,
                            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count());
    }
    const bool keep_alive = request.keep_alive() && !stopping_ && !server_->stopping.load();
    parser_.reset();  // `request` is gone: its body's budget is given back
    respond(reply.status, std::move(reply.body), keep_alive, head_, reply.content_type, reply.www_authenticate,
            reply.build);
  }

  void refuse(int status, ErrorCode code, const std::string& message) {
    parser_.reset();  // gives back the body's budget now, not after the linger
    server_->logger.warn("refused a request with {}: {}", status, message);
    respond(status, error_body(code, message), false);
  }

  // `head`: the headers `body` would have, and no body.
  void respond(int status, std::string body, bool keep_alive, bool head = false,
               std::string_view content_type = "application/json", std::string_view www_authenticate = {},
               std::string_view build = {}) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(status));
    if (!body.empty()) response_.set(http::field::content_type, content_type);
    if (!www_authenticate.empty()) response_.set(http::field::www_authenticate, www_authenticate);
    if (!build.empty()) response_.set(kBuildHeader, build);
    if (status == 503) response_.set(http::field::retry_after, "1");
    response_.keep_alive(keep_alive);
    if (head) {
      if (!body.empty()) response_.content_length(body.size());  // none for 204
    } else {
      response_.body() = std::move(body);
      response_.prepare_payload();
    }
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
  void set_deadline(std::chrono::milliseconds from_now) { set_deadline(Clock::now(), from_now); }
  void set_deadline(Clock::time_point now, std::chrono::milliseconds from_now) {
    deadline_ = (now + from_now).time_since_epoch().count();
  }

  beast::tcp_stream stream_;
  std::atomic<Clock::rep> deadline_{std::numeric_limits<Clock::rep>::max()};  // set on the strand, read by the sweep
  // Set on the strand, read at a cap only to pick a candidate (the strand decides), so
  // relaxed: the request path pays no fence for it.
  std::atomic<Clock::rep> waiting_since_{kNotWaiting};
  bool timed_out_ = false;  // strand only
  bool evicted_ = false;    // strand only
  const net::ip::address peer_;
  const Audience audience_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<BudgetedBody>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> scratch_{};
  HttpServer::Impl* server_;  // outlives every session (see Impl's member order)
  bool reading_ = false;   // strand only
  bool stopping_ = false;  // strand only
  // The request being answered: set on the strand before it goes to the handler pool.
  std::size_t route_ = 0;
  bool head_ = false;  // HEAD: answered as GET, without the body
  bool log_request_ = false;
  Clock::time_point started_;
};

HandlerAdmission::Admission HandlerAdmission::admit(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(mutex_);
  if (!stopping_ && running_ < running_limit_) {
    ++running_;
    refusing_ = false;
    return Admission::kRunNow;
  }
  if (stopping_ || waiting_.size() >= queue_limit_) {
    return std::exchange(refusing_, true) ? Admission::kRefused : Admission::kStartsRefusing;
  }
  refusing_ = false;
  waiting_.push_back(session);
  return Admission::kQueued;
}

std::shared_ptr<Session> HandlerAdmission::finished() {
  std::lock_guard lock(mutex_);
  if (waiting_.empty()) {
    --running_;
    return nullptr;
  }
  std::shared_ptr<Session> next = std::move(waiting_.front());
  waiting_.pop_front();
  return next;
}

void HandlerAdmission::drop_waiting() {
  std::deque<std::shared_ptr<Session>> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(waiting_);
  }
  // Outside the lock: the last reference to a Session closes its connection.
}

thread_local Threads::Slot* Threads::current_ = nullptr;

void Threads::start(net::io_context& ioc, unsigned io_threads, unsigned spares) {
  ioc_ = &ioc;
  slot_count_ = io_threads + spares;
  slots_ = std::make_unique<Slot[]>(slot_count_);
  for (unsigned i = 0; i < slot_count_; ++i) {
    threads_.emplace_back([this, i, spare = i >= io_threads] { run(slots_[i], spare); });
  }
  watcher_ = std::thread([this] { watch(); });
}

void Threads::handler_starts() {
  if (current_ != nullptr) current_->handlers.fetch_add(1, std::memory_order_relaxed);
}
void Threads::handler_ends() {
  if (current_ != nullptr) current_->handlers.fetch_add(1, std::memory_order_relaxed);
}

void Threads::run(Slot& slot, bool spare) {
  current_ = &slot;
  if (spare && !park()) return;
  // One handler at a time, so that a thread taken over leaves as soon as its handler
  // returns. run_one() returns 0 once the io_context is stopped.
  while (ioc_->run_one() != 0) {
    if (slot.taken_over.exchange(false) && !park()) return;
  }
}

bool Threads::park() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return wake_spares_ > 0 || stopping_; });
  if (stopping_) return false;
  --wake_spares_;
  return true;
}

void Threads::watch() {
  // A thread is taken over when it is in the same handler at two looks in a row.
  std::vector<std::uint64_t> seen(slot_count_, 0), taken(slot_count_, 0);
  std::unique_lock lock(mutex_);
  while (!changed_.wait_for(lock, kTakeOverAfter, [this] { return stopping_; })) {
    for (unsigned i = 0; i < slot_count_; ++i) {
      const std::uint64_t now = slots_[i].handlers.load(std::memory_order_relaxed);
      if (now % 2 == 1 && now == seen[i] && taken[i] != now) {
        taken[i] = now;
        slots_[i].taken_over = true;
        ++wake_spares_;
        changed_.notify_all();
      }
      seen[i] = now;
    }
  }
}

void Threads::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (watcher_.joinable()) watcher_.join();
}

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

void HttpServer::Impl::accept(Listener& listener) {
  listener.acceptor.async_accept(net::make_strand(ioc), [self = this, &listener](beast::error_code ec, tcp::socket socket) {
    self->on_accept(listener, ec, std::move(socket));
  });
}

void HttpServer::Impl::on_accept(Listener& listener, beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !listener.acceptor.is_open()) return;
  if (ec == net::error::connection_aborted) return accept(listener);  // the client gave up: nothing wrong here
  if (ec) return retry_accept_later(listener, ec);
  listener.backoff = std::chrono::milliseconds(0);
  socket.set_option(tcp::no_delay(true), ec);
  admit(listener, std::move(socket), kEvictionAttempts);
}

void HttpServer::Impl::retry_accept_later(Listener& listener, const beast::error_code& ec) {
  // EMFILE and the like: the listener stays up and the open connections are served
  // meanwhile; the connection that could not be accepted waits in the listen backlog.
  listener.backoff = std::clamp(2 * listener.backoff, kFirstAcceptBackoff, kMaxAcceptBackoff);
  if (const std::size_t n = accept_failures_log.due(Clock::now())) {
    logger.warn("accept failed: {} ({} times since the last report); retrying in {} ms, open connections are still served",
                ec.message(), n, listener.backoff.count());
  }
  listener.retry.expires_after(listener.backoff);
  listener.retry.async_wait([this, &listener](beast::error_code wait_ec) {
    if (wait_ec || !listener.acceptor.is_open()) return;
    accept(listener);
  });
}

void HttpServer::Impl::admit(Listener& listener, tcp::socket socket, int attempts_left) {
  if (!listener.acceptor.is_open()) return;  // stopped while room was being made
  beast::error_code ec;
  const net::ip::address peer = socket.remote_endpoint(ec).address();
  if (ec) return accept(listener);  // already reset by the client
  std::shared_ptr<Session> session;
  std::shared_ptr<Session> make_room;
  std::size_t open = 0;
  bool peer_full = false;
  {
    std::lock_guard lock(mutex);
    open = sessions.size();
    auto from_peer = connections_per_peer.find(peer);
    peer_full = from_peer != connections_per_peer.end() && from_peer->second >= per_peer_cap();
    if (!peer_full && open < options.max_connections) {
      session = std::make_shared<Session>(std::move(socket), peer, listener.audience, this);
      sessions[session.get()] = session;
      ++connections_per_peer[peer];
    } else if (attempts_left > 0) {
      // Like nginx's reusable connections: an idle one is closed, oldest first, so that a
      // client holding idle connections cannot keep everyone else out. Over the per-peer
      // cap only that peer's own.
      make_room = oldest_idle(peer_full ? &peer : nullptr);
    }
  }
  if (session) {
    session->start();
    return accept(listener);
  }
  const std::string cap = peer_full ? "max_connections_per_peer " + std::to_string(per_peer_cap()) + " for " + peer.to_string()
                                    : "max_connections " + std::to_string(options.max_connections);
  if (!make_room) {
    if (const std::size_t n = refusals_log.due(Clock::now())) {
      logger.warn("connection refused: at {} with none idle ({} refused since the last report; {} connections open)", cap, n,
                  open);
    }
    socket.close(ec);
    return accept(listener);
  }
  if (const std::size_t n = evictions_log.due(Clock::now())) {
    logger.warn("at {}: closing idle connections, oldest first, to admit new ones ({} since the last report)", cap, n);
  }
  // The accept loop of this listener waits for the answer (two strand hops), so at a cap
  // connections are admitted one at a time.
  make_room->close_if_idle(
      [this, &listener, socket = std::move(socket), attempts_left]() mutable {
        net::dispatch(listener.acceptor.get_executor(),
                      [this, &listener, socket = std::move(socket), attempts_left]() mutable {
                        admit(listener, std::move(socket), attempts_left - 1);
                      });
      });
}

std::shared_ptr<Session> HttpServer::Impl::oldest_idle(const net::ip::address* peer) {
  // Raw pointers are safe here: a Session in the map is alive (its destructor takes
  // `mutex` to leave it).
  Session* oldest = nullptr;
  Clock::rep oldest_since = Session::kNotWaiting;
  for (const auto& [s, weak] : sessions) {
    if (peer != nullptr && s->peer() != *peer) continue;
    if (const Clock::rep since = s->waiting_since(); since < oldest_since) {
      oldest = s;
      oldest_since = since;
    }
  }
  return oldest == nullptr ? nullptr : sessions.at(oldest).lock();
}

void HttpServer::Impl::forget(Session* s) {
  if (sessions.erase(s) == 0) return;
  auto from_peer = connections_per_peer.find(s->peer());
  if (--from_peer->second == 0) connections_per_peer.erase(from_peer);
  if (sessions.empty()) all_closed.notify_all();
}

void HttpServer::Impl::session_ended(Session* s) {
  std::lock_guard lock(mutex);
  forget(s);
}

HttpServer::HttpServer(const ApiServerOptions& options, spdlog::logger& logger, HttpRoutes routes)
    : impl_(std::make_unique<Impl>(options, logger, std::move(routes))) {}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

namespace {
// A listening socket on address:port, or the error naming both.
void open_listener(tcp::acceptor& acceptor, const std::string& address, unsigned short port) {
  beast::error_code ec;
  const net::ip::address ip = net::ip::make_address(address, ec);
  if (ec) throw Error(ErrorCode::kUnavailable, "api.listen", "cannot listen on \"" + address + "\": not an IP address");
  const tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error(ErrorCode::kUnavailable, "api.listen",
                "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
  }
}
}  // namespace

void HttpServer::start(const std::vector<std::string>& addresses, unsigned short port) {
  if (addresses.empty()) throw std::invalid_argument("HttpServer::start: no address to listen on");
  impl_->port = port;
  {
    std::lock_guard lock(impl_->listeners_mutex);
    for (const std::string& address : addresses) {
      try {
        open_listener(impl_->listeners.emplace_back(impl_->ioc, Audience::kLocal).acceptor, address, port);
      } catch (...) {
        impl_->listeners.clear();
        throw;
      }
    }
    for (Listener& listener : impl_->listeners) impl_->accept(listener);
  }
  net::dispatch(impl_->sweeper.get_executor(), [impl = impl_.get()] { impl->sweep(); });
  impl_->handlers.configure(impl_->options.handler_threads, impl_->options.handler_queue);
  impl_->runners.start(impl_->ioc, impl_->thread_count(), impl_->options.handler_threads);
}

bool HttpServer::listen_also(const std::string& address, Audience audience) {
  std::lock_guard lock(impl_->listeners_mutex);
  if (impl_->stopping) return false;
  Listener& listener = impl_->listeners.emplace_back(impl_->ioc, audience);
  try {
    open_listener(listener.acceptor, address, impl_->port);
  } catch (...) {
    impl_->listeners.pop_back();
    throw;
  }
  impl_->accept(listener);
  return true;
}

void HttpServer::stop_accepting() {
  if (impl_->stopping.exchange(true)) return;
  if (!impl_->runners.started()) return;
  // Each closed on its own strand, and waited for: once this returns, connects are refused.
  std::lock_guard listeners_lock(impl_->listeners_mutex);
  for (Listener& listener : impl_->listeners) {
    std::promise<void> closed;
    net::dispatch(listener.acceptor.get_executor(), [&listener, &closed] {
      beast::error_code ignored;
      listener.acceptor.close(ignored);
      listener.retry.cancel();
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
  if (!impl_->runners.started()) return;
  stop_accepting();
  {
    std::unique_lock lock(impl_->mutex);
    if (!impl_->all_closed.wait_for(lock, deadline, [&] { return impl_->sessions.empty(); })) {
      impl_->logger.warn("stop: {} connections still open after {} ms; closing them", impl_->sessions.size(),
                         deadline.count());
    }
  }
  impl_->handlers.drop_waiting();
  impl_->ioc.stop();
  // Waits for the handlers still running (they use the server's context); what they
  // post to the stopped io_context is dropped with their connections when it is destroyed.
  impl_->runners.stop();
}

}  // namespace snap::api_detail
