// A PostgreSQL server that cannot be reached, as a caller of the store sees it: every
// call fails kUnavailable within the RetryPolicy budget -- also when the host never
// answers and when its name does not resolve in time, which libpq alone would wait out --
// and the outage is logged once, not once per call, and so is its end.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

#include "../../components/store/src/postgres_connect.h"
#include "../support/captured_stderr.h"
#include "../support/test_postgres.h"
#include "snap/memory_env.h"
#include "snap/store.h"

namespace snap {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// A TCP port on 127.0.0.1 that completes the handshake (the kernel does, into the
// backlog) and then never says a word: a server that hangs, or a blackholed host.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("SilentListener: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { close(); }
  unsigned short port() const { return port_; }
  // Resets the connections waiting in the backlog: what unblocks a client that would
  // otherwise wait for ever.
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  unsigned short port_ = 0;
};

// Runs `open` and returns how it failed, failing the test (after `unblock`) when it has
// not returned within `budget` plus a margin for a slow machine -- a bound that keeps a
// hang from hanging the suite, not a measurement.
StoreError failure_within(std::chrono::milliseconds budget, const std::function<void()>& open,
                          const std::function<void()>& unblock) {
  auto result = std::async(std::launch::async, [&]() -> std::optional<StoreError> {
    try {
      open();
    } catch (const StoreError& e) {
      return e;
    }
    return std::nullopt;
  });
  if (result.wait_for(budget + 2s) != std::future_status::ready) {
    ADD_FAILURE() << "still connecting " << (budget + 2s).count() << " ms later: the attempt is not bounded";
    unblock();
  }
  const std::optional<StoreError> error = result.get();
  if (!error) {
    ADD_FAILURE() << "opened";
    return StoreError(StoreError::Code::kBackend, "(opened)");
  }
  return *error;
}

// Two attempts of at most the default connect_timeout (2 s) each, 50 ms apart.
constexpr auto kTwoAttemptsBudget = std::chrono::milliseconds(2 * 2'000 + 50);

TEST(PostgresOutage, AHostThatNeverAnswersFailsAsUnavailableWithinTheRetryBudget) {
  for (const std::string host : {"127.0.0.1", "localhost"}) {  // an address; a name looked up
    SilentListener silent;
    PostgresOptions pg;
    pg.connection = "host=" + host + " port=" + std::to_string(silent.port()) + " dbname=app user=app password=pw";
    pg.retry.connect_attempts = 2;
    const StoreError e = failure_within(
        kTwoAttemptsBudget, [&] { open_postgres_store(pg, StoreOptions{"silent", {}}); }, [&] { silent.close(); });
    EXPECT_EQ(e.code(), StoreError::Code::kUnavailable) << e.what();
    EXPECT_THAT(e.what(), AllOf(HasSubstr("PostgreSQL unavailable after 2 connection attempts (host=" + host +
                                          " port=" + std::to_string(silent.port()) + " dbname=app user=app)"),
                                Not(HasSubstr("pw"))));
  }
}

// A port on 127.0.0.1 with nothing listening: a connect is refused at once.
unsigned short refusing_port() {
  SilentListener taken;  // a free port, given back when it closes
  return taken.port();
}

TEST(PostgresOutage, TheRetryScheduleRunsOnTheStoresEnvWithoutSleeping) {
  MemoryEnv env;
  PostgresOptions pg;
  pg.env = &env;
  pg.connection = "host=127.0.0.1 port=" + std::to_string(refusing_port()) + " dbname=app user=app";
  try {
    open_postgres_store(pg, StoreOptions{"refused", {}});
    FAIL() << "opened";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("PostgreSQL unavailable after 5 connection attempts"));
  }
  // The default RetryPolicy: 5 attempts, the backoff from 50 ms doubling up to 400 ms,
  // all of it waited on the Env, which only moves its virtual clock.
  EXPECT_EQ(env.slept(), 50ms + 100ms + 200ms + 400ms);
}

StoreError::Code code_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const StoreError& e) {
    return e.code();
  }
  return StoreError::Code::kBackend;  // a call that should have failed did not
}

TEST(PostgresOutage, AnOutageIsLoggedOnceHoweverManyCallsFailAndSoIsItsEnd) {
  testing::TestPostgres server;  // its own: this test stops it
  PostgresOptions pg;
  pg.connection = server.connection();
  pg.retry.connect_attempts = 2;
  pg.retry.connect_backoff = 1ms;
  auto store = open_postgres_store(pg, StoreOptions{"outage", {}});
  // Another store, whose lines go to its `log` option instead of stderr.
  std::mutex mutex;
  std::vector<std::string> logged;
  PostgresOptions with_sink = pg;
  with_sink.log = [&](const std::string& line) {
    std::lock_guard lock(mutex);
    logged.push_back(line);
  };
  auto quiet = open_postgres_store(with_sink, StoreOptions{"quiet", {}});
  store->set("k", json(1));
  quiet->set("k", json(1));
  const std::string about = "store \"outage\": PostgreSQL (";

  testing::CapturedStderr err;
  server.stop("fast");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(code_of([&] { store->get("k"); }), StoreError::Code::kUnavailable) << i;
  EXPECT_EQ(code_of([&] { store->set("k", json(2)); }), StoreError::Code::kUnavailable);
  EXPECT_EQ(code_of([&] { quiet->get("k"); }), StoreError::Code::kUnavailable);
  EXPECT_EQ(code_of([&] { quiet->get("k"); }), StoreError::Code::kUnavailable);
  // A store that cannot be opened says so by its exception only.
  EXPECT_EQ(code_of([&] { open_postgres_store(pg, StoreOptions{"unopened", {}}); }), StoreError::Code::kUnavailable);
  auto lines = err.lines(about);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], AllOf(HasSubstr("snap: " + about + "host="),
                              HasSubstr(") is unavailable; calls fail with kUnavailable until it answers again: ")));
  EXPECT_THAT(err.lines("store \""), ::testing::ElementsAre(lines[0]));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_THAT(logged[0], AllOf(::testing::StartsWith("store \"quiet\": PostgreSQL (host="),
                                 HasSubstr(") is unavailable; ")));
  }

  server.start();
  EXPECT_EQ(store->get("k").value(), json(1));
  EXPECT_EQ(store->get("k").value(), json(1));
  EXPECT_EQ(quiet->get("k").value(), json(1));
  lines = err.lines(about);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], AllOf(HasSubstr(") answers again, after "), HasSubstr(" s unavailable (6 calls failed)")));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(logged.size(), 2u);
    EXPECT_THAT(logged[1], HasSubstr(" s unavailable (2 calls failed)"));
  }

  // The next outage is a new one.
  server.stop("immediate");
  EXPECT_EQ(code_of([&] { store->get("k"); }), StoreError::Code::kUnavailable);
  EXPECT_EQ(code_of([&] { store->get("k"); }), StoreError::Code::kUnavailable);
  EXPECT_EQ(err.lines(about).size(), 3u);
  server.start();
}

// ---- the connection string of one attempt, and its bounded lookup ----

using store_detail::attempt_connection;
using store_detail::BoundedLookup;

// A resolver that answers from a table, counting its calls.
struct FakeResolver {
  std::map<std::string, std::vector<std::string>> names;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  store_detail::HostLookup lookup() const {
    return [names = names, calls = calls](const std::string& host, std::string& error) {
      ++*calls;
      auto it = names.find(host);
      if (it == names.end()) {
        error = "could not translate host name \"" + host + "\" to address: Name or service not known";
        return std::vector<std::string>{};
      }
      return it->second;
    };
  }
};

TEST(PostgresConnect, ANameIsLookedUpHereAndGivenToLibpqAsHostaddr) {
  FakeResolver resolver;
  resolver.names["db"] = {"10.0.0.7"};
  resolver.names["replicas"] = {"10.0.0.8", "fd00::9"};
  BoundedLookup lookup(1s, resolver.lookup());
  std::string error;
  EXPECT_EQ(attempt_connection("host=db port=5432 dbname=app password='p w\\'x' connect_timeout=10", 2s, lookup, error),
            "password='p w\\'x' dbname='app' port='5432' host='db' hostaddr='10.0.0.7' connect_timeout=2");
  EXPECT_EQ(attempt_connection("postgresql://u:secret@replicas:5433/app", 3s, lookup, error),
            "user='u' password='secret' dbname='app' port='5433' host='replicas,replicas' hostaddr='10.0.0.8,fd00::9' "
            "connect_timeout=3");
  EXPECT_EQ(resolver.calls->load(), 2);
  // Nothing to look up: a socket directory, an address, a hostaddr given, a list (left to libpq).
  EXPECT_EQ(attempt_connection("host=/run/pg dbname=app", 2s, lookup, error),
            "dbname='app' host='/run/pg' connect_timeout=2");
  EXPECT_EQ(attempt_connection("host=127.0.0.1 dbname=app", 2s, lookup, error),
            "dbname='app' host='127.0.0.1' connect_timeout=2");
  EXPECT_EQ(attempt_connection("host=db hostaddr=10.1.1.1 dbname=app", 2s, lookup, error),
            "dbname='app' hostaddr='10.1.1.1' host='db' connect_timeout=2");
  EXPECT_EQ(attempt_connection("host=a,b dbname=app", 2s, lookup, error), "dbname='app' host='a,b' connect_timeout=2");
  EXPECT_EQ(attempt_connection("dbname=app", 2s, lookup, error), "dbname='app' connect_timeout=2");
  EXPECT_EQ(resolver.calls->load(), 2);

  EXPECT_EQ(attempt_connection("host=gone dbname=app", 2s, lookup, error), std::nullopt);
  EXPECT_EQ(error, "could not translate host name \"gone\" to address: Name or service not known");
  EXPECT_EQ(attempt_connection("host='unterminated", 2s, lookup, error), std::nullopt);
  EXPECT_THAT(error, HasSubstr("unterminated quoted string"));
}

// A resolver that does not answer until released, as a DNS server that is not there.
struct HungResolver {
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    int entered = 0;
    int finished = 0;
    bool released = false;
  };
  std::shared_ptr<State> state = std::make_shared<State>();
  store_detail::HostLookup lookup() const {
    return [state = state](const std::string&, std::string&) {
      std::unique_lock lock(state->mutex);
      ++state->entered;
      state->changed.notify_all();
      state->changed.wait(lock, [&] { return state->released; });
      ++state->finished;
      state->changed.notify_all();
      return std::vector<std::string>{"10.0.0.7"};
    };
  }
  void wait_entered(int n) const {
    std::unique_lock lock(state->mutex);
    state->changed.wait(lock, [&] { return state->entered >= n; });
  }
  // Lets every lookup answer and waits until they have (their threads outlive the calls).
  void release_and_wait() const {
    std::unique_lock lock(state->mutex);
    state->released = true;
    state->changed.notify_all();
    state->changed.wait(lock, [&] { return state->finished == state->entered; });
  }
};

TEST(PostgresConnect, ALookupThatDoesNotAnswerIsGivenUpAfterTheTimeoutAndJoinedMeanwhile) {
  HungResolver resolver;
  BoundedLookup lookup(500ms, resolver.lookup());
  std::string first_error;
  auto first = std::async(std::launch::async, [&] { return lookup("db", first_error); });
  resolver.wait_entered(1);
  std::string error;
  EXPECT_TRUE(lookup("db", error).empty());  // joins the lookup in flight: no second thread
  EXPECT_EQ(error, "could not translate host name \"db\" to address: no answer within 500 ms");
  EXPECT_TRUE(first.get().empty());
  EXPECT_EQ(first_error, error);
  {
    std::lock_guard lock(resolver.state->mutex);
    EXPECT_EQ(resolver.state->entered, 1);
  }
  // Older than the timeout, the hung lookup is not joined: the name may answer by now.
  EXPECT_TRUE(lookup("db", error).empty());
  {
    std::lock_guard lock(resolver.state->mutex);
    EXPECT_EQ(resolver.state->entered, 2);
  }
  resolver.release_and_wait();
  // A finished lookup is not reused either: each attempt asks afresh.
  EXPECT_EQ(lookup("db", error), (std::vector<std::string>{"10.0.0.7"}));
  resolver.release_and_wait();
  std::lock_guard lock(resolver.state->mutex);
  EXPECT_EQ(resolver.state->entered, 3);
}

}  // namespace
}  // namespace snap
