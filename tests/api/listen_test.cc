// Where a server listens in a container: only on the addresses it is given (its own
// network's, found by its listen name, and loopback), so a service that shares another
// of its networks cannot connect. Loopback stands in for the container's interfaces:
// every 127.x.y.z is an address of this host, and each can be listened on alone.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <string>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "http_client.h"
#include "http_server.h"
#include "listen_addresses.h"

namespace snap::api_detail {
namespace {

spdlog::logger& quiet_logger() {
  static spdlog::logger logger("listen_test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

// True when a TCP connection to address:port is accepted.
bool connects(const std::string& address, unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A port nothing listens on right now.
unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// An HttpServer on one thread that answers 200 {} to every request.
struct AnsweringServer {
  static ApiServerOptions one_thread() {
    ApiServerOptions o;
    o.threads = 1;
    return o;
  }
  ApiServerOptions options = one_thread();  // the server keeps a reference
  HttpServer http{options, quiet_logger(),
                  [](std::string_view, std::string_view, std::string_view) { return HttpReply{200, "{}"}; }};
};

TEST(OwnAddresses, ANameForAnAddressOfThisHostGivesThatAddress) {
  const OwnAddresses own = look_up_own_addresses("127.0.0.1");
  EXPECT_TRUE(own.name_resolves);
  EXPECT_EQ(own.local, std::vector<std::string>{"127.0.0.1"});
}

TEST(OwnAddresses, ANameForAnotherHostsAddressResolvesButGivesNothingLocal) {
  // 192.0.2.0/24 is reserved for documentation: never an address of this host.
  const OwnAddresses own = look_up_own_addresses("192.0.2.7");
  EXPECT_TRUE(own.name_resolves);
  EXPECT_TRUE(own.local.empty());
}

TEST(OwnAddresses, AnUnresolvableNameGivesNothing) {
  // ".invalid" never resolves (RFC 6761).
  const OwnAddresses own = look_up_own_addresses("listen.nothing.invalid");
  EXPECT_FALSE(own.name_resolves);
  EXPECT_TRUE(own.local.empty());
}

TEST(OwnAddresses, NonLoopbackAddressesLeaveLoopbackOut) {
  for (const std::string& a : non_loopback_addresses()) {
    EXPECT_NE(a.rfind("127.", 0), 0u) << a;
    EXPECT_NE(a, "::1");
  }
}

TEST(HttpServerListening, AcceptsOnTheGivenAddressesOnly) {
  AnsweringServer answering;
  HttpServer& server = answering.http;
  const unsigned short port = free_port();
  server.start({"127.0.0.1", "127.0.0.2"}, port);
  EXPECT_TRUE(connects("127.0.0.1", port));
  EXPECT_TRUE(connects("127.0.0.2", port));
  // Another address of this host, as the server's address on a network it shares with
  // the database it uses: refused.
  EXPECT_FALSE(connects("127.0.0.3", port));
  // And it answers HTTP on each.
  ClientPool client("127.0.0.2", port, {std::chrono::seconds(5), std::chrono::seconds(5), std::chrono::seconds(5)});
  const Exchange reply = client.exchange("GET", "/anything", "");
  EXPECT_EQ(reply.failure, Failure::kNone);
  EXPECT_EQ(reply.response.status, 200);
  server.stop(std::chrono::milliseconds(1'000));
  EXPECT_FALSE(connects("127.0.0.1", port));
  EXPECT_FALSE(connects("127.0.0.2", port));
}

TEST(HttpServerListening, AnotherAddressCanBeAddedWhileRunningNotAfterStopping) {
  AnsweringServer answering;
  HttpServer& server = answering.http;
  const unsigned short port = free_port();
  server.start({"127.0.0.1"}, port);
  EXPECT_FALSE(connects("127.0.0.4", port));
  EXPECT_TRUE(server.listen_also("127.0.0.4"));
  EXPECT_TRUE(connects("127.0.0.4", port));
  server.stop(std::chrono::milliseconds(1'000));
  EXPECT_FALSE(connects("127.0.0.4", port));
  EXPECT_FALSE(server.listen_also("127.0.0.5"));
  EXPECT_FALSE(connects("127.0.0.5", port));
}

// The server's start in a container, with loopback names standing for the network alias:
// the name gives an address of this host at once (compose), or only later (swarm,
// after the first healthcheck), or never resolves (not a generated deployment).
TEST(OwnNetworkListening, ANameThatGivesAnAddressAtOnceIsListenedOnFromTheStart) {
  // This host's address other than loopback, as the network alias of a server's own
  // network gives its address there.
  const std::vector<std::string> mine = non_loopback_addresses();
  if (mine.empty()) GTEST_SKIP() << "this host has no address but loopback";
  OwnNetworkListening own(mine.front(), quiet_logger(),
                          {std::chrono::milliseconds(0), std::chrono::milliseconds(10), std::chrono::milliseconds(60'000)});
  EXPECT_EQ(own.initial_addresses(), (std::vector<std::string>{"127.0.0.1", mine.front()}));
}

TEST(OwnNetworkListening, ANameForLoopbackItselfIsListenedOnOnce) {
  OwnNetworkListening own("127.0.0.1", quiet_logger(),
                          {std::chrono::milliseconds(0), std::chrono::milliseconds(10), std::chrono::milliseconds(60'000)});
  EXPECT_EQ(own.initial_addresses(), std::vector<std::string>{"127.0.0.1"});
}

TEST(OwnNetworkListening, ANameThatNeverResolvesLeavesLoopbackAloneAtFirst) {
  OwnNetworkListening own("listen.nothing.invalid", quiet_logger(),
                          {std::chrono::milliseconds(0), std::chrono::milliseconds(10), std::chrono::milliseconds(60'000)});
  EXPECT_EQ(own.initial_addresses(), std::vector<std::string>{"127.0.0.1"});
}

TEST(OwnNetworkListening, ANameThatNeverResolvesEndsOnEveryNonLoopbackAddress) {
  const std::vector<std::string> expected = non_loopback_addresses();
  if (expected.empty()) GTEST_SKIP() << "this host has no address but loopback";
  AnsweringServer answering;
  HttpServer& server = answering.http;
  OwnNetworkListening own("listen.nothing.invalid", quiet_logger(),
                          {std::chrono::milliseconds(0), std::chrono::milliseconds(10), std::chrono::milliseconds(50)});
  const unsigned short port = free_port();
  server.start(own.initial_addresses(), port);
  // Not yet: the give-up time has not passed.
  // An IPv4 one to try (connects() speaks IPv4).
  const auto v4 = std::find_if(expected.begin(), expected.end(), [](const std::string& a) { return a.find(':') == std::string::npos; });
  if (v4 == expected.end()) GTEST_SKIP() << "this host has no IPv4 address but loopback";
  const std::string first = *v4;
  EXPECT_FALSE(connects(first, port));
  own.keep_looking(server);
  // Its thread ends once it has listened.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);  // each look may wait on DNS
  while (!own.done() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(own.done());
  EXPECT_TRUE(connects(first, port)) << first;
  own.stop();
  server.stop(std::chrono::milliseconds(1'000));
}

TEST(HttpServerListening, AnAddressThatCannotBeBoundIsNamedAndNoneStaysBound) {
  AnsweringServer answering;
  HttpServer& server = answering.http;
  const unsigned short port = free_port();
  try {
    server.start({"127.0.0.1", "192.0.2.7"}, port);
    FAIL() << "bound 192.0.2.7";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot listen on 192.0.2.7:" + std::to_string(port) + ": ", 0), 0u) << e.what();
  }
  EXPECT_FALSE(connects("127.0.0.1", port));
}

}  // namespace
}  // namespace snap::api_detail
