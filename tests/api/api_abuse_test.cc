// The server's limits under hostile clients on loopback, each bounded in time: oversize
// body 413, oversize headers 431, malformed request 400, a slowloris client cut off,
// 1,000 held connections, the connection cap; after each, a normal call still works.
// And graceful stop on a real SIGTERM through the lifecycle.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_app.h"

namespace snap::apitest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A raw TCP client: the abuse the typed client would never send.
class RawSocket {
 public:
  explicit RawSocket(unsigned short port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawSocket(RawSocket&& o) noexcept : fd_(std::exchange(o.fd_, -1)), connected_(o.connected_) {}
  bool connected() const { return connected_; }

  // False when the peer has closed (EPIPE/ECONNRESET).
  bool send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Reads until the peer closes, or `bound` passes without data (a bound for a hung
  // server, not a synchronisation delay).
  std::string read_all(std::chrono::milliseconds bound = std::chrono::milliseconds(10'000)) {
    std::string out;
    char buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(bound.count())) <= 0) return out;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Reads one response (headers and Content-Length body) on a kept-alive connection;
  // "" when the peer closes first or `bound` passes without data.
  std::string read_response(std::chrono::milliseconds bound = std::chrono::milliseconds(10'000)) {
    std::string out;
    char buf[4096];
    for (;;) {
      const auto end = out.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto at = out.find("Content-Length: ");
        const std::size_t length = at == std::string::npos ? 0 : std::stoul(out.substr(at + 16));
        if (out.size() >= end + 4 + length) return out;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(bound.count())) <= 0) return "";
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "";
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Whether the peer closed the connection within `bound` (EOF or reset).
  bool closed_within(std::chrono::milliseconds bound) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(bound.count())) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK) <= 0;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class Abuse : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { deployment_ = new Deployment(Transport::kHttp); }
  static void TearDownTestSuite() {
    delete deployment_;
    deployment_ = nullptr;
  }
  Deployment& d() { return *deployment_; }
  Endpoints& e() { return d().endpoints(); }

  // After every abuse, both servers still answer a normal typed call.
  void TearDown() override {
    const Person p{"after", 1, true, 0.5, {"x"}, Address{"c", "z"}, {}, 0};
    EXPECT_EQ(e().echo(d().client(), p), p);
    EXPECT_EQ(e().tight_ping(d().client()), "pong");
  }

  static Deployment* deployment_;
};
Deployment* Abuse::deployment_ = nullptr;

TEST_F(Abuse, OversizeBodyIs413BeforeTheBodyIsRead) {
  RawSocket s(d().tight_port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(kTightBodyLimit + 1) + "\r\n\r\n"));
  const std::string response = s.read_all();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(response, HasSubstr(R"({"code":"resource_exhausted","message":"request body over the limit of 1024 bytes"})"));
}

TEST_F(Abuse, OversizeBodyWithoutContentLengthIs413) {
  RawSocket s(d().tight_port());
  ASSERT_TRUE(s.connected());
  std::string chunk(kTightBodyLimit + 10, ' ');
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  s.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + chunk + "\r\n");
  EXPECT_THAT(s.read_all(), StartsWith("HTTP/1.1 413 "));
}

TEST_F(Abuse, OversizeHeaderIs431) {
  RawSocket s(d().tight_port());
  ASSERT_TRUE(s.connected());
  s.send("GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(kTightHeaderLimit, 'a') + "\r\n\r\n");
  const std::string response = s.read_all();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 431 "));
  EXPECT_THAT(response, HasSubstr(R"("code":"resource_exhausted")"));
}

TEST_F(Abuse, MalformedRequestLineIs400) {
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  s.send("NOT A REQUEST\r\n\r\n");
  const std::string response = s.read_all();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(response, HasSubstr(R"({"code":"invalid_argument","message":"malformed HTTP request: )"));
}

TEST_F(Abuse, UnknownRouteIs404InTheErrorFormat) {
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  s.send("GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string response = s.read_all();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(response, HasSubstr(R"({"code":"not_found","message":"no endpoint GET /nowhere"})"));
}

TEST_F(Abuse, HealthzAnswers200) {
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  s.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string response = s.read_all();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(response, HasSubstr(R"({"status":"ok"})"));
}

TEST_F(Abuse, SlowlorisIsCutOffByTheRequestTimeout) {
  // tight's request_timeout is 1 s; this client sends one byte a second and would need
  // far longer than that to finish its request.
  RawSocket s(d().tight_port());
  ASSERT_TRUE(s.connected());
  const std::string request = "GET /ping HTTP/1.1\r\nHost: x\r\nX-Padding: 0123456789\r\n\r\n";
  std::size_t sent = 0;
  bool cut_off = false;
  for (; sent < request.size(); ++sent) {
    if (!s.send(request.substr(sent, 1))) {
      cut_off = true;
      break;
    }
    if (s.closed_within(std::chrono::milliseconds(1'000))) {
      cut_off = true;
      break;
    }
  }
  EXPECT_TRUE(cut_off) << "the server waited for all " << request.size() << " bytes";
  EXPECT_LT(sent, request.size());
}

TEST_F(Abuse, AThousandHeldConnectionsDoNotStopOthers) {
  raise_fd_limit(4096);
  std::vector<RawSocket> held;
  for (int i = 0; i < 1000; ++i) {
    held.emplace_back(d().api_port());
    ASSERT_TRUE(held.back().connected()) << "connection " << i;
  }
  // While they are held: a fresh connection is served.
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  s.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(s.read_all(), StartsWith("HTTP/1.1 200 "));
  const Person p{"held", 2, false, 0, {}, Address{}, {}, std::nullopt};
  EXPECT_EQ(e().echo(d().client(), p), p);
}

TEST_F(Abuse, ConnectionsOverTheCapAreClosedAtOnce) {
  // Connections are opened one by one, each proven held by a keep-alive request, until
  // the server closes one unanswered. The typed client's pool may hold one or two
  // connections of its own, so the cap is reached after at most kTightMaxConnections.
  std::vector<RawSocket> held;
  bool refused = false;
  for (std::size_t i = 0; i < 2 * kTightMaxConnections && !refused; ++i) {
    RawSocket s(d().tight_port());
    ASSERT_TRUE(s.connected());  // the kernel accepts; the server decides
    s.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string answer = s.read_response();
    if (answer.empty()) {
      refused = true;
    } else {
      EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 "));
      held.push_back(std::move(s));
    }
  }
  EXPECT_TRUE(refused);
  EXPECT_LE(held.size(), kTightMaxConnections);
  held.clear();  // TearDown's ping is idempotent: it retries until the server has seen these close
}

TEST(GracefulStop, ARequestInFlightAtSigtermCompletesAndNewConnectionsAreRefused) {
  Deployment d(Transport::kHttp, /*run_servers=*/false);
  Shared& shared = d.shared();
  std::promise<pthread_t> runner_id;
  int status = -1;
  std::thread runner([&] {
    runner_id.set_value(pthread_self());
    status = run_personas(d.server_app(), {d.server_app().find_persona("api")}, {});
  });
  const pthread_t runner_thread = runner_id.get_future().get();

  std::string answer;
  std::thread caller([&] { answer = d.endpoints().slow(d.client()); });
  {
    std::unique_lock lock(shared.mutex);
    shared.changed.wait(lock, [&] { return shared.slow_entered; });
  }
  // The lifecycle blocked SIGTERM in its thread before starting the server, and waits
  // for it there: this is the signal a container gets from `docker stop`.
  pthread_kill(runner_thread, SIGTERM);

  // The listener closes as the stop begins; until then a connect may still succeed.
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < bound) refused = !RawSocket(d.api_port()).connected();
  EXPECT_TRUE(refused);

  {
    std::lock_guard lock(shared.mutex);
    shared.slow_released = true;
  }
  shared.changed.notify_all();
  caller.join();
  EXPECT_EQ(answer, "finished");
  runner.join();
  EXPECT_EQ(status, 0);
}

}  // namespace
}  // namespace snap::apitest
