// Handlers run on their own bounded pool (ApiServerOptions::handler_threads and
// handler_queue), in dev and over HTTP: handlers blocked on a latch the test holds keep
// every handler thread busy, yet /healthz and the health probe answer; with the queue
// full too, one more request is resource_exhausted (429) at once; once the latch opens,
// every request held completes. And the stop: requests running and waiting finish when
// released within the stop deadline; past it, those still waiting are refused.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "raw_http.h"
#include "test_app.h"

namespace snap::apitest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The server under test: 2 I/O threads, 2 handler threads, 1 request may wait.
constexpr unsigned kHandlerThreads = 2;
constexpr std::size_t kHandlerQueue = 1;
constexpr const char* kBusyMessage =
    "server busy: every handler thread is running (handler_threads 2) and the queue is full (handler_queue 1); retry "
    "later";
// Bounds that turn a hang into a failure (never a synchronisation delay).
constexpr auto kBound = std::chrono::seconds(10);

// What the blocking handler and the test share: handlers entered, and the latch.
struct Latch {
  std::mutex mutex;
  std::condition_variable changed;
  int entered = 0;
  bool open = false;

  void release() {
    {
      std::lock_guard lock(mutex);
      open = true;
    }
    changed.notify_all();
  }
  // True once `n` handlers have entered (false after kBound: the test then fails).
  bool wait_entered(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, kBound, [&] { return entered >= n; });
  }
};

struct PoolEndpoints {
  ApiServer* server = nullptr;
  Endpoint<void, std::string> block;  // waits for the latch, returns "finished"
  Endpoint<void, std::string> quick;
};

ApiServerOptions pool_options(std::chrono::milliseconds stop_deadline) {
  ApiServerOptions o;
  o.threads = 2;
  o.handler_threads = kHandlerThreads;
  o.handler_queue = kHandlerQueue;
  o.stop_deadline = stop_deadline;
  // Client side: a request the server never reads fails the test instead of hanging it.
  o.response_timeout = std::chrono::milliseconds(10'000);
  return o;
}

// One server persona "api" and a client that uses it, in dev (direct calls) or over
// HTTP (built for local processes, replayed twice: one app serves, the other calls).
class PoolDeployment {
 public:
  PoolDeployment(Transport transport, std::chrono::milliseconds stop_deadline) {
    const DefineApp define = [this, stop_deadline](App& app) {
      PoolEndpoints& e = endpoints_[&app];
      auto& api = app.add<ApiServer>("api", pool_options(stop_deadline));
      e.server = &api;
      Latch* latch = &latch_;
      e.block = api.endpoint<void, std::string>("POST", "/block", [latch] {
        std::unique_lock lock(latch->mutex);
        ++latch->entered;
        latch->changed.notify_all();
        latch->changed.wait(lock, [latch] { return latch->open; });
        return std::string("finished");
      });
      e.quick = api.endpoint<void, std::string>("GET", "/quick", [] { return std::string("quick"); });
      app.add<Persona>("client", PersonaKind::kCommand, [](PersonaContext&) { return 0; }).uses(api);
    };
    if (transport == Transport::kDev) {
      server_app_ = start_dev_app("pooltest", define, *system_, {});
      client_app_ = server_app_.get();
    } else {
      const auto out = dir_ / "out";
      std::filesystem::create_directories(out / "state");
      testing::write_file(out / "state/build-state.json",
                          R"({"ports":{"pooltest.api.port":)" + std::to_string(free_port()) + "}}");
      BuildOptions options;
      options.out_dir = out;
      options.placement = Placement::kLocal;
      build_app("pooltest", define, *system_, options);
      const ReplayOptions replay{out / "snapshot.snaplog", Mode::kRun, nullptr};
      server_app_ = replay_app("pooltest", define, *system_, replay);
      owned_client_app_ = replay_app("pooltest", define, *system_, replay);
      client_app_ = owned_client_app_.get();
    }
    client_ = std::make_unique<PersonaContext>(*client_app_, *client_app_->find_persona("client"),
                                               std::vector<std::string>{});
    persona_ = server_app_->find_persona("api");
    server_ctx_ = std::make_unique<PersonaContext>(*server_app_, *persona_, std::vector<std::string>{});
    server_thread_ = std::thread([this] { persona_->run(*server_ctx_); });
    const auto bound = std::chrono::steady_clock::now() + kBound;
    while (!persona_->healthy(*server_ctx_)) {
      if (std::chrono::steady_clock::now() > bound) throw std::runtime_error("server did not become healthy");
      std::this_thread::yield();
    }
  }
  ~PoolDeployment() {
    latch_.release();  // a handler still blocked would hold the stop
    stop();
    join();
  }

  // The lifecycle's stop: request_stop, then the stop hooks (the listener closes).
  void stop() {
    stop_persona(*server_ctx_);
  }
  void join() {
    if (server_thread_.joinable()) server_thread_.join();
  }

  PoolEndpoints& endpoints() { return endpoints_.at(client_app_); }
  const ApiServer& server() { return *endpoints_.at(server_app_.get()).server; }
  PersonaContext& client() { return *client_; }
  PersonaContext& server_ctx() { return *server_ctx_; }
  unsigned short port() { return server().port().number(); }
  Latch& latch() { return latch_; }

 private:
  Latch latch_;
  testing::TempDir dir_;
  Env* system_ = &real_env();
  std::map<const App*, PoolEndpoints> endpoints_;
  std::unique_ptr<App> server_app_, owned_client_app_;
  App* client_app_ = nullptr;
  std::unique_ptr<PersonaContext> client_;
  const Persona* persona_ = nullptr;
  std::unique_ptr<PersonaContext> server_ctx_;
  std::thread server_thread_;
};

// A typed call's outcome: what it returns ("finished"), or "code: message".
std::string outcome_of(const std::function<std::string()>& call) {
  try {
    return call();
  } catch (const ApiError& e) {
    return std::string(to_string(e.code())) + ": " + e.message();
  }
}

// A typed call on its own thread. Calls report to the latch's condition variable when
// they return.
class Call {
 public:
  Call(Latch& latch, const std::function<std::string()>& call) : latch_(latch) {
    thread_ = std::thread([this, call] {
      std::string outcome = outcome_of(call);
      {
        std::lock_guard lock(latch_.mutex);
        outcome_ = std::move(outcome);
      }
      latch_.changed.notify_all();
    });
  }
  // Opens the latch: a test that fails early must not wait here for handlers it holds.
  ~Call() {
    latch_.release();
    thread_.join();
  }
  bool done() {
    std::lock_guard lock(latch_.mutex);
    return outcome_.has_value();
  }
  // The outcome, or "(no answer)" after kBound.
  std::string get() {
    std::unique_lock lock(latch_.mutex);
    if (!latch_.changed.wait_for(lock, kBound, [&] { return outcome_.has_value(); })) return "(no answer)";
    return *outcome_;
  }
  // Waits until `a` or `b` has returned (at most kBound).
  static void wait_either(Call& a, Call& b) {
    std::unique_lock lock(a.latch_.mutex);
    a.latch_.changed.wait_for(lock, kBound, [&] { return a.outcome_.has_value() || b.outcome_.has_value(); });
  }

 private:
  Latch& latch_;
  std::optional<std::string> outcome_;  // guarded by latch_.mutex
  std::thread thread_;
};

bool refuses_connections(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0;
  ::close(fd);
  return refused;
}

// Of two calls made while the pool is full and the queue empty, one waits and the other
// is refused at once. Returns the one that waits, after checking the refusal.
Call* the_one_that_waits(Call& a, Call& b) {
  Call::wait_either(a, b);
  if (a.done() == b.done()) {
    ADD_FAILURE() << (a.done() ? "both calls returned while the handlers were blocked"
                               : "neither call returned: a full server left them waiting");
    return nullptr;
  }
  Call& refused = a.done() ? a : b;
  EXPECT_EQ(refused.get(), std::string("resource_exhausted: ") + kBusyMessage);
  return a.done() ? &b : &a;
}

class HandlerPool : public ::testing::TestWithParam<Transport> {};

INSTANTIATE_TEST_SUITE_P(Api, HandlerPool, ::testing::Values(Transport::kDev, Transport::kHttp),
                         [](const auto& info) { return to_string(info.param); });

TEST_P(HandlerPool, BlockedHandlersHoldNeitherHealthNorIoAndAFullQueueIsResourceExhausted) {
  PoolDeployment d(GetParam(), std::chrono::milliseconds(10'000));
  PoolEndpoints& e = d.endpoints();
  auto block = [&] { return e.block(d.client()); };

  // Every handler thread (and, before handlers had their own, every I/O thread) held.
  Call first(d.latch(), block), second(d.latch(), block);
  ASSERT_TRUE(d.latch().wait_entered(kHandlerThreads));

  EXPECT_TRUE(d.server().healthy(d.server_ctx()));  // `APP health`
  if (GetParam() == Transport::kHttp) {
    EXPECT_TRUE(d.server().probe_health(std::chrono::milliseconds(5'000)));
    const std::string health = raw_exchange(d.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_THAT(health, StartsWith("HTTP/1.1 200 "));
    EXPECT_THAT(health, HasSubstr(R"({"status":"ok"})"));
    // Routing is the I/O thread's too: an unknown route is answered.
    EXPECT_THAT(raw_exchange(d.port(), "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"), StartsWith("HTTP/1.1 404 "));
  }

  // One more fills the queue; the one after that is refused at once.
  Call third(d.latch(), block), fourth(d.latch(), block);
  Call* waiting = the_one_that_waits(third, fourth);
  ASSERT_NE(waiting, nullptr);
  if (GetParam() == Transport::kHttp) {
    const std::string refused =
        raw_exchange(d.port(), "POST /block HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_THAT(refused, StartsWith("HTTP/1.1 429 "));
    EXPECT_THAT(refused, HasSubstr(std::string(R"({"code":"resource_exhausted","message":")") + kBusyMessage + "\"}"));
  } else {
    EXPECT_EQ(outcome_of(block), std::string("resource_exhausted: ") + kBusyMessage);
  }
  EXPECT_FALSE(waiting->done());

  d.latch().release();
  EXPECT_EQ(first.get(), "finished");
  EXPECT_EQ(second.get(), "finished");
  EXPECT_EQ(waiting->get(), "finished");
  EXPECT_EQ(e.quick(d.client()), "quick");
}

TEST_P(HandlerPool, StopLetsRunningAndWaitingHandlersFinishWithinTheDeadline) {
  PoolDeployment d(GetParam(), std::chrono::milliseconds(10'000));
  PoolEndpoints& e = d.endpoints();
  auto block = [&] { return e.block(d.client()); };
  Call first(d.latch(), block), second(d.latch(), block);
  ASSERT_TRUE(d.latch().wait_entered(kHandlerThreads));
  Call third(d.latch(), block), fourth(d.latch(), block);
  Call* waiting = the_one_that_waits(third, fourth);
  ASSERT_NE(waiting, nullptr);

  d.stop();
  if (GetParam() == Transport::kHttp) {
    const auto bound = std::chrono::steady_clock::now() + kBound;
    bool refused = false;
    while (!refused && std::chrono::steady_clock::now() < bound) refused = refuses_connections(d.port());
    EXPECT_TRUE(refused) << "the listener stays open while handlers run";
  }
  d.latch().release();
  EXPECT_EQ(first.get(), "finished");
  EXPECT_EQ(second.get(), "finished");
  EXPECT_EQ(waiting->get(), "finished");
  d.join();
}

TEST_P(HandlerPool, PastTheStopDeadlineRequestsStillWaitingAreRefused) {
  PoolDeployment d(GetParam(), std::chrono::milliseconds(200));
  PoolEndpoints& e = d.endpoints();
  auto block = [&] { return e.block(d.client()); };
  Call first(d.latch(), block), second(d.latch(), block);
  ASSERT_TRUE(d.latch().wait_entered(kHandlerThreads));
  Call third(d.latch(), block), fourth(d.latch(), block);
  Call* waiting = the_one_that_waits(third, fourth);
  ASSERT_NE(waiting, nullptr);

  // The handlers running hold the stop (they use the server's context); the request
  // that waits for one is refused once the deadline has passed, while they still run.
  d.stop();
  if (GetParam() == Transport::kHttp) {
    const std::string refused = waiting->get();
    EXPECT_THAT(refused, StartsWith("unavailable: POST /block (pooltest.api) at 127.0.0.1:"));
    EXPECT_THAT(refused, HasSubstr("connection lost after the request was sent"));
  } else {
    EXPECT_EQ(waiting->get(), "unavailable: POST /block (pooltest.api): the server persona has stopped");
  }
  d.latch().release();
  // The handlers that were running still answer: their replies are written as they
  // return (in dev, on the caller's own thread), then the connections close.
  EXPECT_EQ(first.get(), "finished");
  EXPECT_EQ(second.get(), "finished");
  d.join();
}

TEST(HandlerPoolOptions, ZeroHandlerThreadsIsRefusedAtStartup) {
  Env* system = &real_env();
  ApiServerOptions none;
  none.handler_threads = 0;
  try {
    start_dev_app("opts", [&](App& app) { app.add<ApiServer>("api", none); }, *system, {});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "ApiServer opts.api: handler_threads must be > 0");
  }
}

}  // namespace
}  // namespace snap::apitest
