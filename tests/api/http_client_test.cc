// The typed client's connection pool against a server name that stands for several
// replicas (a swarm service in dnsrr mode, a headless Kubernetes Service): calls are
// spread over every address, an address that refuses passes the call to the next, and
// when none answers the name is resolved again. The replicas are tiny HTTP responders on
// loopback ports; the resolver is injected so that one name resolves to all of them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/error.hpp>

#include "http_client.h"
#include "snap/memory_env.h"

namespace snap::api_detail {
namespace {

// A loopback socket bound to a free port: listening (a replica) or not (refuses).
int bound_socket(unsigned short& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

Address loopback(unsigned short port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return make_address(reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

// Answers every request on a kept-alive connection with its own name as the body; or,
// given `build`, with the 412 a strict server of that build refuses another build's call
// with (version_skew.h), or a plain 412 (a handler's failed_precondition) for "-".
class Replica {
 public:
  explicit Replica(std::string name, std::string build = {}) : name_(std::move(name)), build_(std::move(build)) {
    fd_ = bound_socket(port_);
    if (::listen(fd_, 16) != 0) throw std::runtime_error("listen");
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  // Gone: stops listening and closes its connections, as a killed container would.
  ~Replica() {
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int c : connections_) ::shutdown(c, SHUT_RDWR);
    }
    for (std::thread& t : handlers_) t.join();
    for (int c : connections_) ::close(c);
    ::close(fd_);
  }
  Address address() const { return loopback(port_); }
  int served() const { return served_; }

 private:
  void accept_loop() {
    for (;;) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;  // shut down
      std::lock_guard lock(mutex_);
      connections_.push_back(c);
      handlers_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string in;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(c, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      in.append(buffer, static_cast<std::size_t>(n));
      for (std::size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
        in.erase(0, end + 4);  // requests without a body
        ++served_;
        const std::string status = build_.empty() ? "200 OK" : "412 Precondition Failed";
        const std::string build = build_.empty() || build_ == "-" ? "" : "Snap-Build: " + build_ + "\r\n";
        const std::string response = "HTTP/1.1 " + status + "\r\n" + build +
                                     "Content-Length: " + std::to_string(name_.size()) + "\r\n\r\n" + name_;
        if (::send(c, response.data(), response.size(), MSG_NOSIGNAL) < 0) return;
      }
    }
  }

  std::string name_;
  std::string build_;
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<int> served_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> connections_;   // guarded by mutex_
  std::vector<std::thread> handlers_;  // guarded by mutex_ until the acceptor has stopped
};

// A port nothing listens on (held bound, so no one else takes it): connecting is refused.
class Refusing {
 public:
  Refusing() { fd_ = bound_socket(port_); }
  ~Refusing() { ::close(fd_); }
  Address address() const { return loopback(port_); }

 private:
  int fd_;
  unsigned short port_ = 0;
};

constexpr ClientTimeouts kTimeouts{std::chrono::milliseconds(2000), std::chrono::milliseconds(5000),
                                   std::chrono::milliseconds(5000)};

// A resolver whose answer the test sets, counting how often it is asked.
struct FakeDns {
  std::mutex mutex;
  std::vector<Address> answer;
  int asked = 0;
  Resolver resolver() {
    return [this](const std::string& host, unsigned short, boost::system::error_code& ec) {
      std::lock_guard lock(mutex);
      ++asked;
      EXPECT_EQ(host, "customer-server-api");
      ec = {};
      return answer;
    };
  }
};

TEST(HttpClientReplicas, CallsAreSpreadOverEveryAddressTheNameResolvesTo) {
  Replica a("a"), b("b");
  FakeDns dns;
  dns.answer = {a.address(), b.address()};
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  std::map<std::string, int> bodies;
  for (int i = 0; i < 6; ++i) {
    const Exchange x = pool.exchange("GET", "/", "");
    ASSERT_EQ(x.failure, Failure::kNone) << x.error.message();
    ++bodies[x.response.body];
  }
  EXPECT_EQ(bodies, (std::map<std::string, int>{{"a", 3}, {"b", 3}}));
  EXPECT_EQ(a.served(), 3);
  EXPECT_EQ(b.served(), 3);
  EXPECT_EQ(dns.asked, 1);  // the answer is reused (kResolveEvery), not asked per call
}

TEST(HttpClientReplicas, AnAddressThatRefusesPassesTheCallToTheNext) {
  Refusing gone;
  Replica a("a");
  FakeDns dns;
  dns.answer = {gone.address(), a.address()};
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  for (int i = 0; i < 4; ++i) {
    const Exchange x = pool.exchange("GET", "/", "");
    ASSERT_EQ(x.failure, Failure::kNone) << x.error.message();
    EXPECT_EQ(x.response.body, "a");
  }
  EXPECT_EQ(a.served(), 4);
}

TEST(HttpClientReplicas, AReplicaThatGoesAwayLeavesTheCallsToTheOthers) {
  Replica a("a");
  auto b = std::make_unique<Replica>("b");
  FakeDns dns;
  dns.answer = {a.address(), b->address()};
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  for (int i = 0; i < 2; ++i) ASSERT_EQ(pool.exchange("GET", "/", "").failure, Failure::kNone);
  ASSERT_EQ(b->served(), 1);  // the pool now holds a kept-alive connection to each
  b.reset();  // killed: its pooled connection is closed and its port refuses
  for (int i = 0; i < 4; ++i) {
    const Exchange x = pool.exchange("GET", "/", "");
    ASSERT_EQ(x.failure, Failure::kNone) << x.error.message();
    EXPECT_EQ(x.response.body, "a");
  }
  EXPECT_EQ(a.served(), 5);
}

TEST(HttpClientReplicas, WhenNoAddressAnswersTheNameIsResolvedAgain) {
  Refusing one, two;
  FakeDns dns;
  dns.answer = {one.address(), two.address()};
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  const Exchange refused = pool.exchange("GET", "/", "");
  EXPECT_EQ(refused.failure, Failure::kConnect);
  EXPECT_EQ(refused.error, boost::system::error_code(ECONNREFUSED, boost::system::system_category()));
  EXPECT_EQ(dns.asked, 1);
  // The replicas moved: the next call asks the resolver at once and reaches the new one.
  Replica moved("moved");
  {
    std::lock_guard lock(dns.mutex);
    dns.answer = {moved.address()};
  }
  const Exchange x = pool.exchange("GET", "/", "");
  ASSERT_EQ(x.failure, Failure::kNone) << x.error.message();
  EXPECT_EQ(x.response.body, "moved");
  EXPECT_EQ(dns.asked, 2);
}

TEST(HttpClientVersionSkew, ACallRefusedByAReplicaOfAnotherBuildIsAskedOfTheNext) {
  Replica old_build("refused", "bbbbbbbbbbbb"), same_build("served");
  FakeDns dns;
  dns.answer = {old_build.address(), same_build.address()};
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  int refused_first = 0;
  for (int i = 0; i < 4; ++i) {
    const Exchange x = pool.exchange("GET", "/", "", {}, {}, {}, "aaaaaaaaaaaa");
    ASSERT_EQ(x.failure, Failure::kNone) << x.error.message();
    EXPECT_FALSE(x.refused());
    EXPECT_EQ(x.response.status, 200);
    EXPECT_EQ(x.response.body, "served");
    if (!x.refused_by.empty()) {
      EXPECT_EQ(x.refused_by, std::vector<std::string>{"bbbbbbbbbbbb"});
      ++refused_first;
    }
  }
  EXPECT_EQ(refused_first, 2);  // the calls that started at the other build's replica
  EXPECT_EQ(old_build.served(), 2);
  EXPECT_EQ(same_build.served(), 4);
}

TEST(HttpClientVersionSkew, WhenEveryReplicaIsAnotherBuildsTheLastRefusalIsTheAnswer) {
  Replica one("one", "bbbbbbbbbbbb"), two("two", "cccccccccccc");
  FakeDns dns;
  dns.answer = {one.address(), two.address()};
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  const Exchange x = pool.exchange("GET", "/", "", {}, {}, {}, "aaaaaaaaaaaa");
  ASSERT_EQ(x.failure, Failure::kNone) << x.error.message();
  EXPECT_TRUE(x.refused());
  EXPECT_EQ(x.response.status, 412);
  EXPECT_EQ(x.refused_by.size(), 2u);
  EXPECT_EQ(one.served() + two.served(), 2);  // each asked once
}

TEST(HttpClientVersionSkew, A412ThatNamesNoOtherBuildIsAnAnswerNotARefusal) {
  Replica handler("handler's failed_precondition", "-"), same("same build", "aaaaaaaaaaaa");
  FakeDns dns;
  dns.answer = {handler.address(), same.address()};
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  for (int i = 0; i < 2; ++i) {
    const Exchange x = pool.exchange("GET", "/", "", {}, {}, {}, "aaaaaaaaaaaa");
    EXPECT_FALSE(x.refused());
    EXPECT_TRUE(x.refused_by.empty());
    EXPECT_EQ(x.response.status, 412);
  }
  EXPECT_EQ(handler.served(), 1);
  EXPECT_EQ(same.served(), 1);
  // A caller that names no build (a probe, a tool) is never refused as another build.
  Replica other("other build", "bbbbbbbbbbbb");
  FakeDns only;
  only.answer = {other.address()};
  ClientPool untagged("customer-server-api", 35000, kTimeouts, only.resolver());
  const Exchange x = untagged.exchange("GET", "/", "");
  EXPECT_FALSE(x.refused());
  EXPECT_EQ(x.response.status, 412);
}

TEST(HttpClientReplicas, ANameThatResolvesToNothingFailsToConnect) {
  FakeDns dns;
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver());
  const Exchange x = pool.exchange("GET", "/", "");
  EXPECT_EQ(x.failure, Failure::kConnect);
  EXPECT_EQ(x.error, make_error_code(boost::asio::error::host_not_found));
}

TEST(HttpClientReplicas, TheDefaultResolverListsEachAddressOnce) {
  boost::system::error_code ec;
  const std::vector<Address> found = resolve_all("127.0.0.1", 35000, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].text, "127.0.0.1:35000");
}

// A DNS server that does not answer: getaddrinfo alone would block for 2 × 5 s; the
// lookup is bounded by the connect timeout instead. The stuck lookup is released at the
// end so that its thread finishes.
struct StuckDns {
  std::shared_ptr<std::promise<void>> release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  std::shared_ptr<std::atomic<int>> asked = std::make_shared<std::atomic<int>>(0);
  Resolver resolver() {
    return [released = released, asked = asked](const std::string&, unsigned short, boost::system::error_code& ec) {
      ++*asked;
      released.wait();
      ec = make_error_code(boost::asio::error::host_not_found);
      return std::vector<Address>{};
    };
  }
  ~StuckDns() { release->set_value(); }
};

TEST(HttpClientResolving, ALookupThatDoesNotAnswerInTimeIsATryAgainError) {
  StuckDns dns;
  boost::system::error_code ec;
  const std::vector<Address> found =
      bounded_resolver(dns.resolver(), std::chrono::milliseconds(50))("customer-server-api", 35000, ec);
  EXPECT_TRUE(found.empty());
  EXPECT_EQ(ec, make_error_code(boost::asio::error::host_not_found_try_again));
}

TEST(HttpClientResolving, CallersWhileALookupIsInFlightWaitOnThatOne) {
  StuckDns dns;
  const Resolver bounded = bounded_resolver(dns.resolver(), std::chrono::milliseconds(50));
  boost::system::error_code ec;
  bounded("customer-server-api", 35000, ec);
  EXPECT_EQ(ec, make_error_code(boost::asio::error::host_not_found_try_again));
  // Its thread is stuck in the lookup.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (dns.asked->load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(dns.asked->load(), 1);
  for (int i = 0; i < 5; ++i) {
    bounded("customer-server-api", 35000, ec);
    EXPECT_EQ(ec, make_error_code(boost::asio::error::host_not_found_try_again));
  }
  EXPECT_EQ(dns.asked->load(), 1) << "one thread for the stuck lookup, not one per call";
}

TEST(HttpClientResolving, ALookupThatAnswersInTimeGivesItsAnswerAndItsError) {
  FakeDns dns;
  dns.answer = {loopback(35001), loopback(35002)};
  boost::system::error_code ec;
  const std::vector<Address> found = bounded_resolver(dns.resolver(), std::chrono::seconds(30))("customer-server-api", 35000, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[1].text, "127.0.0.1:35002");
  const Resolver failing = [](const std::string&, unsigned short, boost::system::error_code& e) {
    e = make_error_code(boost::asio::error::host_not_found);
    return std::vector<Address>{};
  };
  EXPECT_TRUE(bounded_resolver(failing, std::chrono::seconds(30))("customer-server-api", 35000, ec).empty());
  EXPECT_EQ(ec, make_error_code(boost::asio::error::host_not_found));
}

TEST(HttpClientResolving, ACallToAServerWhoseNameDoesNotResolveInTimeFailsToConnect) {
  StuckDns dns;
  ClientPool pool("customer-server-api", 35000,
                  {std::chrono::milliseconds(50), std::chrono::seconds(5), std::chrono::seconds(5)},
                  bounded_resolver(dns.resolver(), std::chrono::milliseconds(50)));
  const Exchange x = pool.exchange("GET", "/", "");
  EXPECT_EQ(x.failure, Failure::kConnect);
  EXPECT_EQ(x.error, make_error_code(boost::asio::error::host_not_found_try_again));
}

// The resolved answer's age is measured on the Env's steady clock: on a MemoryEnv the
// test moves time, nothing sleeps, and the answer expires at exactly kResolveEvery (1 s).
TEST(HttpClientReplicas, TheResolvedAnswerExpiresAfterOneSecondOfTheEnvsClock) {
  Replica a("a");
  FakeDns dns;
  dns.answer = {a.address()};
  MemoryEnv env;
  env.set_tick(std::chrono::nanoseconds(0));  // the clock moves only when the test says
  ClientPool pool("customer-server-api", 35000, kTimeouts, dns.resolver(), env);
  ASSERT_EQ(pool.exchange("GET", "/", "").failure, Failure::kNone);
  EXPECT_EQ(dns.asked, 1);
  env.advance(std::chrono::seconds(1) - std::chrono::nanoseconds(1));
  ASSERT_EQ(pool.exchange("GET", "/", "").failure, Failure::kNone);
  EXPECT_EQ(dns.asked, 1) << "asked again before the answer was a second old";
  env.advance(std::chrono::nanoseconds(1));
  ASSERT_EQ(pool.exchange("GET", "/", "").failure, Failure::kNone);
  EXPECT_EQ(dns.asked, 2) << "a second-old answer was reused";
  EXPECT_EQ(env.steady_elapsed(), std::chrono::seconds(1));  // exactly the virtual time consumed
  EXPECT_EQ(env.slept(), std::chrono::nanoseconds(0));
}

}  // namespace
}  // namespace snap::api_detail
