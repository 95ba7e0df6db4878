// Where a server listens in a container: only on the addresses it is given (its own
// network's, found by its listen name, and loopback), so a service that shares another
// of its networks cannot connect. Loopback stands in for the container's interfaces:
// every 127.x.y.z is an address of this host, and each can be listened on alone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <optional>
#include <chrono>
#include <thread>
#include <string>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "builtin_routes.h"
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

// The status of GET path at address:port (0: no answer).
int get_status(const std::string& address, unsigned short port, const std::string& path) {
  const std::chrono::seconds bound(10);  // a bound on a hung server, not a delay
  ClientPool client(address, port, {bound, bound, bound});
  const auto result = client.exchange("GET", path, "");
  return result.failure == Failure::kNone ? result.response.status : 0;
}

// An HttpServer on one thread that answers 200 {} to every request (on the I/O thread).
struct AnsweringServer {
  static ApiServerOptions one_thread() {
    ApiServerOptions o;
    o.threads = 1;
    o.handler_threads = 1;
    return o;
  }
  ApiServerOptions options = one_thread();  // the server keeps a reference
  HttpServer http{options, quiet_logger(),
                  HttpRoutes{[](std::string_view, std::string_view, Audience) { return Routing{std::nullopt, {200, "{}"}}; },
                             [](std::size_t, const IncomingRequest&) { return HttpReply{500, ""}; }}};
};

// This host's IPv4 addresses other than loopback, as a server's own network address.
std::vector<std::string> host_ipv4_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    if (std::string(text).rfind("127.", 0) != 0) out.push_back(text);
  }
  freeifaddrs(list);
  return out;
}

const Resolver kResolver = bounded_resolver(resolve_all, std::chrono::seconds(10));

TEST(OwnAddresses, ANameForAnAddressOfThisHostGivesThatAddress) {
  EXPECT_EQ(own_addresses("127.0.0.1", kResolver), std::vector<std::string>{"127.0.0.1"});
  const std::vector<std::string> mine = host_ipv4_addresses();
  if (mine.empty()) GTEST_SKIP() << "this host has no IPv4 address but loopback";
  EXPECT_EQ(own_addresses(mine.front(), kResolver), std::vector<std::string>{mine.front()});
}

TEST(OwnAddresses, ANameForAnotherHostsAddressGivesNothing) {
  // 192.0.2.0/24 is reserved for documentation: never an address of this host.
  EXPECT_TRUE(own_addresses("192.0.2.7", kResolver).empty());
}

TEST(OwnAddresses, AnUnresolvableNameGivesNothing) {
  // ".invalid" never resolves (RFC 6761).
  EXPECT_TRUE(own_addresses("listen.nothing.invalid", kResolver).empty());
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
  EXPECT_TRUE(server.listen_also("127.0.0.4", Audience::kCallers));
  EXPECT_TRUE(connects("127.0.0.4", port));
  server.stop(std::chrono::milliseconds(1'000));
  EXPECT_FALSE(connects("127.0.0.4", port));
  EXPECT_FALSE(server.listen_also("127.0.0.5", Audience::kCallers));
  EXPECT_FALSE(connects("127.0.0.5", port));
}

// The server's start in a container, a literal address standing for the network alias:
// the name gives an address of this host at once (compose), or never (a deployment that
// does not give the alias: the server stays on loopback, and says so).
constexpr OwnNetworkListening::Timing kQuick{std::chrono::milliseconds(0), std::chrono::seconds(10),
                                             std::chrono::milliseconds(10), std::chrono::milliseconds(20),
                                             std::chrono::seconds(30)};

TEST(OwnNetworkListening, ANameThatGivesAnAddressAtOnceIsListenedOnFromTheStart) {
  const std::vector<std::string> mine = host_ipv4_addresses();
  if (mine.empty()) GTEST_SKIP() << "this host has no IPv4 address but loopback";
  AnsweringServer answering;
  const unsigned short port = free_port();
  answering.http.start({"127.0.0.1"}, port);
  OwnNetworkListening own(mine.front(), Audience::kCallers, quiet_logger(), kQuick);
  EXPECT_FALSE(connects(mine.front(), port));
  own.start(answering.http);
  EXPECT_TRUE(own.done());
  EXPECT_EQ(own.listening(), std::vector<std::string>{mine.front()});
  EXPECT_TRUE(connects(mine.front(), port));
  answering.http.stop(std::chrono::milliseconds(1'000));
}

TEST(OwnNetworkListening, ANameForLoopbackItselfIsDoneWithoutAnotherSocket) {
  AnsweringServer answering;
  answering.http.start({"127.0.0.1"}, free_port());
  OwnNetworkListening own("127.0.0.1", Audience::kCallers, quiet_logger(), kQuick);
  own.start(answering.http);
  EXPECT_TRUE(own.done());
  answering.http.stop(std::chrono::milliseconds(1'000));
}

TEST(OwnNetworkListening, ANameThatNeverResolvesLeavesTheServerOnLoopbackOnly) {
  AnsweringServer answering;
  const unsigned short port = free_port();
  answering.http.start({"127.0.0.1"}, port);
  OwnNetworkListening own("listen.nothing.invalid", Audience::kCallers, quiet_logger(), kQuick);
  own.start(answering.http);
  EXPECT_FALSE(own.done());  // still looking, on its own thread
  for (const std::string& address : host_ipv4_addresses()) EXPECT_FALSE(connects(address, port)) << address;
  EXPECT_TRUE(connects("127.0.0.1", port));
  own.stop();  // returns once its thread has ended
  EXPECT_TRUE(own.done());
  EXPECT_TRUE(own.listening().empty());
  answering.http.stop(std::chrono::milliseconds(1'000));
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

// /metrics is for loopback and for Prometheus on the metrics network; the callers on
// the server's own network get /healthz, /openapi.json and their endpoints, never
// /metrics; the metrics address serves nothing but GET /metrics.
TEST(BuiltinRoutes, EachAudienceGetsWhatIsForIt) {
  const std::string openapi = "{\"openapi\": \"3.1.0\"}\n";
  int exposed = 0;
  const std::function<std::string()> metrics = [&] {
    ++exposed;
    return std::string("snap_up 1\n");
  };
  const auto status = [&](std::string_view method, std::string_view path, Audience from) {
    const std::optional<HttpReply> reply = answer_builtin(method, path, from, metrics, openapi);
    return reply ? reply->status : 0;  // 0: the endpoints decide
  };
  EXPECT_EQ(status("GET", "/metrics", Audience::kLocal), 200);
  EXPECT_EQ(status("GET", "/healthz", Audience::kLocal), 200);
  EXPECT_EQ(status("GET", "/openapi.json", Audience::kLocal), 200);
  EXPECT_EQ(status("GET", "/api/x", Audience::kLocal), 0);

  EXPECT_EQ(status("GET", "/metrics", Audience::kCallers), 0);  // no endpoint has it: 404
  EXPECT_EQ(status("GET", "/healthz", Audience::kCallers), 200);
  EXPECT_EQ(status("GET", "/openapi.json", Audience::kCallers), 200);
  EXPECT_EQ(status("POST", "/openapi.json", Audience::kCallers), 0);  // no endpoint has it: 404
  EXPECT_EQ(status("POST", "/api/x", Audience::kCallers), 0);

  EXPECT_EQ(status("GET", "/metrics", Audience::kScraper), 200);
  EXPECT_EQ(status("GET", "/healthz", Audience::kScraper), 404);
  EXPECT_EQ(status("GET", "/openapi.json", Audience::kScraper), 404);
  EXPECT_EQ(status("POST", "/metrics", Audience::kScraper), 404);
  EXPECT_EQ(status("GET", "/api/x", Audience::kScraper), 404);
  EXPECT_EQ(exposed, 2);  // the exposition is written only when served

  const std::optional<HttpReply> refused = answer_builtin("GET", "/api/x", Audience::kScraper, metrics, openapi);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->body, R"({"code":"not_found","message":"only GET /metrics is served on this address"})");
  const std::optional<HttpReply> scraped = answer_builtin("GET", "/metrics", Audience::kScraper, metrics, openapi);
  ASSERT_TRUE(scraped);
  EXPECT_EQ(scraped->body, "snap_up 1\n");
  EXPECT_THAT(std::string(scraped->content_type), ::testing::StartsWith("text/plain"));
  const std::optional<HttpReply> described = answer_builtin("GET", "/openapi.json", Audience::kCallers, metrics, openapi);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->body, openapi);
  EXPECT_EQ(std::string(described->content_type), "application/json");
}

// The metrics address is a listener of its own audience on the server's port: a request
// there is routed as kScraper, one on loopback as kLocal.
TEST(BuiltinRoutes, TheServerTellsTheRouteWhichAddressARequestCameIn) {
  ApiServerOptions options;
  options.threads = 1;
  std::mutex mutex;
  std::vector<Audience> seen;
  HttpServer http{options, quiet_logger(),
                  HttpRoutes{[&](std::string_view, std::string_view, Audience from) {
                               std::lock_guard lock(mutex);
                               seen.push_back(from);
                               return Routing{std::nullopt, {200, "{}"}};
                             },
                             [](std::size_t, const IncomingRequest&) { return HttpReply{}; }}};
  const unsigned short port = free_port();
  http.start({"127.0.0.1"}, port);
  ASSERT_TRUE(http.listen_also("127.0.0.3", Audience::kScraper));
  EXPECT_EQ(get_status("127.0.0.1", port, "/metrics"), 200);
  EXPECT_EQ(get_status("127.0.0.3", port, "/metrics"), 200);
  http.stop(std::chrono::milliseconds(0));
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen, (std::vector<Audience>{Audience::kLocal, Audience::kScraper}));
}

}  // namespace
}  // namespace snap::api_detail
