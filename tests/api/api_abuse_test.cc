// The server's limits under hostile clients on loopback, each bounded in time: oversize
// body 413, oversize headers 431, malformed request 400, a slowloris client cut off,
// 1,000 held connections, the connection cap with busy connections (floods of idle ones:
// admission_test.cc), the budget for bodies in flight; request framing
// (Transfer-Encoding smuggling, HEAD), non-finite numbers and the JSON nesting limit as
// they arrive on the wire; after each, a normal call still works. And graceful stop on a
// real SIGTERM through the lifecycle.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_app.h"

namespace snap::apitest {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::size_t count_of(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string post(std::string_view path, std::string_view body, std::string_view more_headers = "") {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         std::string(more_headers) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// A Person's JSON with `extra` as an ignored field, padded with spaces to `size` bytes.
std::string person_json(std::string_view extra = "", std::size_t size = 0) {
  std::string out = R"({"name":"n","age":1,"admin":false,"score":0.5,"tags":[],"address":{"city":"c"},"past":[])";
  if (!extra.empty()) out += R"(,"extra":)" + std::string(extra);
  out += "}";
  if (out.size() < size) out.append(size - out.size(), ' ');
  return out;
}

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
  int fd() const { return fd_; }

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

// On the wire, a store error has its code's status: what proxies and load balancers see.
TEST_F(Abuse, StoreErrorsAreSentWithTheirCodesStatus) {
  for (const auto& [store_code, status, code] : {std::tuple{"unavailable", "503", "unavailable"},
                                                 std::tuple{"conflict", "409", "aborted"},
                                                 std::tuple{"invalid_argument", "400", "invalid_argument"}}) {
    RawSocket s(d().api_port());
    ASSERT_TRUE(s.connected());
    const std::string body = std::string(R"({"code":")") + store_code + R"(","message":"m"})";
    s.send("POST /store-fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    const std::string response = s.read_all();
    EXPECT_THAT(response, StartsWith(std::string("HTTP/1.1 ") + status + " ")) << store_code;
    EXPECT_THAT(response, HasSubstr(std::string(R"({"code":")") + code + R"(",)")) << store_code;
  }
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
  // Connections are opened one by one, each proven held by a keep-alive request and then
  // kept busy by the start of a second one (an idle connection would make room at the
  // cap: tests/api/admission_test.cc), until the server closes one unanswered. They all
  // come from 127.0.0.1, so the per-peer cap (half of kTightMaxConnections) is the one
  // reached; the typed client's idle pooled connections make room first.
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
      ASSERT_TRUE(s.send("GET /ping HTTP/1.1\r\n"));
      held.push_back(std::move(s));
    }
  }
  EXPECT_TRUE(refused);
  EXPECT_LE(held.size(), kTightMaxConnections / 2);
  held.clear();  // TearDown's ping is idempotent: it retries until the server has seen these close
}

TEST_F(Abuse, TransferEncodingNotEndingInChunkedIs400AndWhatFollowsIsNotRun) {
  for (const std::string coding : {"gzip", "identity", "chunked, identity"}) {
    SCOPED_TRACE(coding);
    const std::string marker = "smuggled past " + coding;
    // Read as an empty body, the rest would be a second request: one that writes a note.
    const std::string smuggled = post("/notes", R"({"text":")" + marker + R"("})");
    RawSocket s(d().api_port());
    ASSERT_TRUE(s.connected());
    ASSERT_TRUE(s.send("POST /notes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + "\r\n\r\n" + smuggled));
    const std::string response = s.read_all(std::chrono::milliseconds(5'000));
    EXPECT_THAT(response, StartsWith("HTTP/1.1 400 "));
    EXPECT_THAT(response, EndsWith(R"({"code":"invalid_argument","message":"malformed HTTP request: Transfer-Encoding \")" +
                                   coding + R"(\" does not end in a single chunked, so the body's length is unknown"})"));
    EXPECT_EQ(count_of(response, "HTTP/1.1 "), 1u) << response;
    EXPECT_TRUE(s.closed_within(std::chrono::milliseconds(0))) << "the connection was kept open";
    std::lock_guard lock(d().shared().mutex);
    const auto& notes = d().shared().notes;
    EXPECT_EQ(std::find(notes.begin(), notes.end(), marker), notes.end()) << "the smuggled request ran";
  }
}

TEST_F(Abuse, TransferCodingsBeforeChunkedAre501) {
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  const std::string body = person_json();
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", body.size());
  s.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + std::string(size) + body +
         "\r\n0\r\n\r\n");
  const std::string response = s.read_all(std::chrono::milliseconds(5'000));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 501 "));
  EXPECT_THAT(response, EndsWith(R"({"code":"unimplemented","message":"Transfer-Encoding \"gzip, chunked\": only chunked is supported"})"));
}

TEST_F(Abuse, HeadIsAnsweredWithTheHeadersOfGetAndNoBody) {
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  // Pipelined on one keep-alive connection: a body after the HEAD response would be read
  // as the start of the next response.
  s.send("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /zeros HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string all = s.read_all(std::chrono::milliseconds(5'000));
  const auto first_end = all.find("\r\n\r\n");
  ASSERT_NE(first_end, std::string::npos) << all;
  const std::string first = all.substr(0, first_end + 4);
  EXPECT_THAT(first, StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(first, HasSubstr("Content-Length: 15\r\n"));  // what GET's {"status":"ok"} has
  const std::string rest = all.substr(first_end + 4);
  ASSERT_THAT(rest, StartsWith("HTTP/1.1 200 ")) << all;
  const auto second_end = rest.find("\r\n\r\n");
  ASSERT_NE(second_end, std::string::npos) << all;
  EXPECT_THAT(rest.substr(0, second_end), HasSubstr("Content-Type: application/json"));
  EXPECT_EQ(rest.substr(0, second_end).find("{"), std::string::npos);
  const std::string third = rest.substr(second_end + 4);
  EXPECT_THAT(third, StartsWith("HTTP/1.1 200 ")) << all;
  EXPECT_THAT(third, EndsWith("\r\n\r\n{\"status\":\"ok\"}"));
}

TEST_F(Abuse, AnInfiniteNumberOnTheWireIs400NamingTheField) {
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  std::string body = person_json();
  body.replace(body.find("0.5"), 3, "1e999999");
  s.send(post("/echo", body, "Connection: close\r\n"));
  const std::string response = s.read_all(std::chrono::milliseconds(5'000));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(response, EndsWith(R"({"code":"invalid_argument","message":"request body: $.score: expected finite number, got number out of range"})"));
}

TEST_F(Abuse, ANonFiniteResponseIs500InternalAndNeverInfinityOnTheWire) {
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  s.send("GET /infinite HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string response = s.read_all(std::chrono::milliseconds(5'000));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 500 "));
  EXPECT_THAT(response, EndsWith(R"j({"code":"internal","message":"response body: $.score: not JSON: a non-finite number (JSON has no NaN or infinity)"})j"));
  EXPECT_THAT(response, Not(HasSubstr("Infinity")));
}

TEST_F(Abuse, JsonNestedToTheLimitIsReadAndOneDeeperIs400) {
  // The request object is level 1; an ignored field's value counts like any other.
  const auto nested = [](std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  {
    RawSocket s(d().api_port());
    ASSERT_TRUE(s.connected());
    s.send(post("/echo", person_json(nested(kJsonMaxDepth - 1)), "Connection: close\r\n"));
    EXPECT_THAT(s.read_all(std::chrono::milliseconds(5'000)), StartsWith("HTTP/1.1 200 "));
  }
  RawSocket s(d().api_port());
  ASSERT_TRUE(s.connected());
  const std::string body = person_json(nested(kJsonMaxDepth));
  s.send(post("/echo", body, "Connection: close\r\n"));
  const std::string response = s.read_all(std::chrono::milliseconds(5'000));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(response, HasSubstr(R"({"code":"invalid_argument","message":"request body: $: nested deeper than 32 arrays and objects (kJsonMaxDepth) at offset )"));
}

TEST_F(Abuse, BodiesOverTheBudgetInFlightAre503AndTheBudgetComesBack) {
  // Two requests whose bodies do not fit the budget together, each sent but for its end:
  // whichever the server reads second is refused at once; the first is served when its
  // body is complete. Once per framing: Content-Length (taken before the body is read)
  // and chunked (taken as it arrives).
  struct Partial {
    std::string start, rest;
  };
  const std::string body = person_json("", 1000);
  const Partial by_length{post("/echo", body).substr(0, post("/echo", body).size() - 10),
                          body.substr(body.size() - 10)};
  const std::string chunk = person_json("", 600);
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  const Partial chunked{"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + chunk,
                        "\r\n0\r\n\r\n"};
  static_assert(1000 + 600 > kTightBodyBudget && 1000 <= kTightBodyBudget);

  for (const Partial* second : {&by_length, &chunked}) {
    SCOPED_TRACE(second == &chunked ? "chunked" : "content-length");
    const Partial* parts[2] = {&by_length, second};
    RawSocket sockets[2] = {RawSocket(d().tight_port()), RawSocket(d().tight_port())};
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(sockets[i].connected());
      ASSERT_TRUE(sockets[i].send(parts[i]->start));
    }
    pollfd p[2] = {{sockets[0].fd(), POLLIN, 0}, {sockets[1].fd(), POLLIN, 0}};
    ASSERT_GT(::poll(p, 2, 10'000), 0) << "neither request was refused";
    const int refused = (p[0].revents & POLLIN) != 0 ? 0 : 1;
    const int held = 1 - refused;
    const std::string response = sockets[refused].read_all(std::chrono::milliseconds(5'000));
    EXPECT_THAT(response, StartsWith("HTTP/1.1 503 "));
    EXPECT_THAT(response, HasSubstr("Retry-After: 1\r\n"));
    EXPECT_THAT(response, EndsWith(R"({"code":"resource_exhausted","message":"request bodies in flight over the server's budget of 1536 bytes; retry later"})"));

    ASSERT_TRUE(sockets[held].send(parts[held]->rest));
    EXPECT_THAT(sockets[held].read_response(), StartsWith("HTTP/1.1 200 "));
    // Its share was given back once it was handled: a body at the limit fits now.
    ASSERT_TRUE(sockets[held].send(post("/echo", person_json("", kTightBodyLimit), "Connection: close\r\n")));
    EXPECT_THAT(sockets[held].read_all(std::chrono::milliseconds(5'000)), StartsWith("HTTP/1.1 200 "));
  }
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
