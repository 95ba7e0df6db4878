// The OpenAPI documents the build writes, used by other languages' real tools: each
// document is validated by kin-openapi, and a Go client that oapi-codegen generates from
// it calls a server of a --local build for every endpoint. What the generated client gets
// -- results, statuses, error codes and messages -- is what the typed C++ client gets
// (the program's own C++ callers, run as personas) and what a C++ caller gets sending the
// same bytes (each request the Go client sent, sent again raw, in the same order).
// Requests that break the schema (a wrong type, a missing member, a broken body) are sent
// by the Go side and refused with the exact error a C++ caller gets.
//
// The Go programs are tests/interop/client; the tools come from scripts/build-go-tools.sh
// (SNAP_OAPI_CODEGEN, SNAP_OPENAPI_VALIDATE, SNAP_INTEROP_GO). Without them every test
// here fails, saying how to build them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "local_run.h"
#include "test_postgres.h"

namespace snap::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;

// Bounds for a broken or hung tool, never waited out when it works: a generated client
// builds in seconds once build-go-tools.sh has compiled what it imports (a cold Go build
// cache under a sanitizer run's load takes longer, hence the room).
constexpr auto kToolBound = std::chrono::seconds(300);

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The tools, or a failure saying how to get them.
struct GoTools {
  std::string oapi_codegen = SNAP_OAPI_CODEGEN;
  std::string validate = SNAP_OPENAPI_VALIDATE;
  std::string go = SNAP_INTEROP_GO;

  // Empty when every tool is there; else what is missing and how to build it.
  std::string missing() const {
    std::string out;
    for (const auto& [name, path] : {std::pair{"SNAP_OAPI_CODEGEN", oapi_codegen},
                                     std::pair{"SNAP_OPENAPI_VALIDATE", validate}, std::pair{"SNAP_INTEROP_GO", go}}) {
      if (path.empty()) {
        out += std::string(name) + " is not set; ";
      } else if (::access(path.c_str(), X_OK) != 0) {
        out += std::string(name) + "=" + path + " is not an executable; ";
      }
    }
    if (!out.empty()) {
      out += "run scripts/build-go-tools.sh (it needs Go) and configure with the paths it prints "
             "(-DSNAP_OAPI_CODEGEN=... -DSNAP_OPENAPI_VALIDATE=... -DSNAP_INTEROP_GO=...); scripts/test.sh does both";
    }
    return out;
  }
};

#define REQUIRE_GO_TOOLS(tools)                                     \
  do {                                                              \
    const std::string missing_tools = (tools).missing();            \
    if (!missing_tools.empty()) GTEST_FAIL() << missing_tools;      \
  } while (false)

struct ToolRun {
  int exit_code = -1;
  std::string out, err;
};

// Runs a tool to completion (bounded) with this process's environment, in `dir`, its
// output in `output_dir` under `name`.
ToolRun run_tool(const std::string& name, const std::vector<std::string>& argv, const fs::path& dir,
                 const fs::path& output_dir) {
  BackgroundProcess p(name, argv, LocalBuild::environment({}), output_dir, dir);
  if (!p.wait_for_exit(kToolBound)) {
    p.stop();
    throw std::runtime_error(name + " did not finish within " + std::to_string(kToolBound.count()) + " s: " +
                             p.describe());
  }
  return {p.exit_code().value_or(-1), p.out(), p.err()};
}

// A temporary directory of a test's own, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("snap-interop-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The document a server serves at GET /openapi.json.
std::string served_document(unsigned short port) {
  const RawHttpReply reply =
      raw_http_exchange(port, "GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (reply.status != 200) {
    throw std::runtime_error("GET /openapi.json answered " + std::to_string(reply.status) + ": " + reply.head +
                             reply.body);
  }
  return reply.body;
}

// One call the generated client made (tests/interop/client/report).
struct GoCall {
  std::string call;
  unsigned short port = 0;  // of the server it went to
  std::string method, target, content_type;
  std::optional<std::string> request_body;
  int status = 0;
  json::value body;
  bool undecoded = false;
};

std::vector<GoCall> parse_calls(const std::string& out) {
  std::vector<GoCall> calls;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const json::object o = json::parse(line).as_object();
    GoCall c;
    c.call = o.at("call").as_string();
    const json::object& request = o.at("request").as_object();
    const std::string host(request.at("host").as_string());
    if (host.rfind("127.0.0.1:", 0) != 0) throw std::runtime_error("a call to " + host + ": " + line);
    c.port = static_cast<unsigned short>(std::stoi(host.substr(10)));
    c.method = request.at("method").as_string();
    c.target = request.at("target").as_string();
    c.content_type = request.at("content_type").as_string();
    if (request.at("body").is_string()) c.request_body = std::string(request.at("body").as_string());
    c.status = static_cast<int>(o.at("status").as_int64());
    c.body = o.at("body");
    c.undecoded = o.contains("undecoded") && o.at("undecoded").as_bool();
    calls.push_back(std::move(c));
  }
  return calls;
}

const GoCall& find_call(const std::vector<GoCall>& calls, const std::string& name) {
  for (const GoCall& c : calls) {
    if (c.call == name) return c;
  }
  throw std::runtime_error("the Go client made no call " + name);
}

// The Go program `program` (a directory of tests/interop/client) with its packages
// generated from `documents` (package name -> document) by oapi-codegen, built in a
// temporary copy of the module, then run as often as asked. Every step's failure names
// the step and shows its output.
class GeneratedClient {
 public:
  GeneratedClient(const GoTools& tools, const std::string& program,
                  const std::map<std::string, fs::path>& documents) {
    fs::copy(SNAP_INTEROP_CLIENT_SRC, dir_.path() / "src", fs::copy_options::recursive);
    for (const auto& [package, document] : documents) {
      const fs::path out = dir_.path() / "src" / program / package;
      fs::create_directories(out);
      const ToolRun gen = run_tool("oapi-codegen-" + package,
                                   {tools.oapi_codegen, "-generate", "types,client", "-package", package, "-o",
                                    (out / (package + ".gen.go")).string(), document.string()},
                                   dir_.path(), dir_.path());
      if (gen.exit_code != 0) {
        throw std::runtime_error("oapi-codegen failed on " + document.string() + ":\n" + gen.out + gen.err);
      }
    }
    binary_ = dir_.path() / program;
    const ToolRun build =
        run_tool("go-build", {tools.go, "build", "-o", binary_.string(), "./" + program}, dir_.path() / "src",
                 dir_.path());
    if (build.exit_code != 0) {
      throw std::runtime_error("the generated " + program + " client does not build:\n" + build.out + build.err);
    }
  }

  // Runs the client; its calls, or a failure with its output.
  std::vector<GoCall> run(const std::vector<std::string>& args) {
    std::vector<std::string> argv{binary_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    const ToolRun r = run_tool("go-client-" + std::to_string(runs_++), argv, dir_.path(), dir_.path());
    if (r.exit_code != 0) {
      throw std::runtime_error("the generated client failed (" + std::to_string(r.exit_code) + "):\n" + r.out + r.err);
    }
    if (!r.err.empty()) ADD_FAILURE() << "the generated client says:\n" << r.err;
    return parse_calls(r.out);
  }

 private:
  TempDir dir_;
  fs::path binary_;
  int runs_ = 0;
};

// A body as JSON: null for none, the text as a string when it is not JSON.
json::value body_json(const std::string& body) {
  if (body.empty()) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return json::string(body);
  return v;
}

// The request a Go call sent, sent again by this process exactly as it went.
RawHttpReply send_again(const GoCall& c) {
  std::string request = c.method + " " + c.target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!c.content_type.empty()) request += "Content-Type: " + c.content_type + "\r\n";
  if (c.request_body) request += "Content-Length: " + std::to_string(c.request_body->size()) + "\r\n";
  request += "\r\n";
  if (c.request_body) request += *c.request_body;
  return raw_http_exchange(c.port, request);
}

// Every call of `calls` answered the C++ caller as it answered the Go client: sent again
// in the same order (so each finds the state the Go call found), same status, same body.
void expect_same_answers_sent_again(const std::vector<GoCall>& calls) {
  for (const GoCall& c : calls) {
    SCOPED_TRACE("call " + c.call + ": " + c.method + " " + c.target);
    EXPECT_FALSE(c.undecoded) << "the generated client could not decode its answer: " << c.body;
    const RawHttpReply reply = send_again(c);
    EXPECT_EQ(reply.status, c.status) << reply.head << reply.body;
    EXPECT_EQ(body_json(reply.body), c.body) << "the C++ caller got " << reply.body;
  }
}

// An error body.
json::value error(std::string_view code, std::string_view message) {
  return json::object{{"code", code}, {"message", message}};
}

// The document the build wrote for `service` is the one its server serves, and
// kin-openapi finds it valid.
fs::path checked_document(const GoTools& tools, const LocalBuild& build, const std::string& service,
                          unsigned short port) {
  const fs::path written = build.dir() / "out" / "openapi" / (service + ".json");
  EXPECT_TRUE(fs::exists(written)) << written;
  EXPECT_EQ(served_document(port), read_file(written)) << "GET /openapi.json is not " << written;
  const ToolRun v = run_tool("validate-" + service, {tools.validate, written.string()}, build.dir(), build.dir());
  EXPECT_EQ(v.exit_code, 0) << "kin-openapi finds " << written << " invalid:\n" << v.out << v.err;
  return written;
}

// ---- the validator itself ----

// The validator refuses what it should: else a passing validation would say nothing.
TEST(OpenApiValidator, RefusesADocumentThatBreaksTheSpecification) {
  const GoTools tools;
  REQUIRE_GO_TOOLS(tools);
  TempDir dir;
  const fs::path doc = dir.path() / "broken.json";
  // No info; an operation with no responses; a parameter with neither schema nor content.
  std::ofstream(doc) << R"({"openapi": "3.1.0", "paths": {"/x": {"get": {"responses": {}},
      "delete": {"parameters": [{"name": "id", "in": "query"}], "responses": {"204": {"description": "none"}}}}}})";
  const ToolRun v = run_tool("validate", {tools.validate, doc.string()}, dir.path(), dir.path());
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_THAT(v.err, HasSubstr("invalid info"));
  EXPECT_THAT(v.err, HasSubstr("the responses object MUST contain at least one response code"));
  EXPECT_THAT(v.err, HasSubstr("parameter \"id\""));
}

// ---- the customer example ----

TEST(OpenApiInterop, TheCustomerExampleCalledFromGoAnswersAsItAnswersCpp) {
  const GoTools tools;
  REQUIRE_GO_TOOLS(tools);
  const std::string postgres = TestPostgres::shared().connection();
  LocalBuild build(SNAP_CUSTOMER_APP);
  const unsigned short port = build.port("customer.customer-server.api.port");
  BackgroundProcess& server = build.start("customer-server.api", {{"SNAP_POSTGRES", postgres}});
  LocalBuild::wait_healthy(server, port);

  const fs::path document = checked_document(tools, build, "customer-server-api", port);
  GeneratedClient client(tools, "customer", {{"api", document}});
  const std::vector<GoCall> calls = client.run({"http://127.0.0.1:" + std::to_string(port)});
  ASSERT_EQ(calls.size(), 9u) << build.describe();

  // What the generated client got, call by call.
  const json::value ada = json::object{{"id", "go-1"}, {"name", "Ada Lovelace"}};
  EXPECT_EQ(find_call(calls, "post-customer").status, 204);
  EXPECT_EQ(find_call(calls, "get-customer").target, "/api/customer/go-1");
  EXPECT_EQ(find_call(calls, "get-customer").status, 200);
  EXPECT_EQ(find_call(calls, "get-customer").body, ada);
  EXPECT_EQ(find_call(calls, "get-customer-odd").body,
            (json::object{{"id", "a b/ü?&=%+"}, {"name", "Ünïcödé \"quoted\" \\ \t"}}));
  EXPECT_EQ(find_call(calls, "get-customer-missing").status, 404);
  EXPECT_EQ(find_call(calls, "get-customer-missing").body, error("not_found", "no customer nobody"));
  // The schema-breaking requests, refused by the server's binding with its exact messages.
  EXPECT_EQ(find_call(calls, "post-customer-wrong-type").status, 400);
  EXPECT_EQ(find_call(calls, "post-customer-wrong-type").body,
            error("invalid_argument", "request body: $.id: expected string, got number 7"));
  EXPECT_EQ(find_call(calls, "post-customer-missing-member").body,
            error("invalid_argument", "request body: $.name: missing"));
  EXPECT_EQ(find_call(calls, "post-customer-not-json").status, 400);
  // An empty id leaves the path without its last segment, which no route matches (the
  // typed C++ client refuses an empty path parameter before sending anything).
  EXPECT_EQ(find_call(calls, "get-customer-empty-id").target, "/api/customer/");
  EXPECT_EQ(find_call(calls, "get-customer-empty-id").status, 404);
  EXPECT_EQ(find_call(calls, "get-customer-empty-id").body, error("not_found", "no endpoint GET /api/customer/"));

  // A C++ caller sending the same bytes gets the same answers.
  expect_same_answers_sent_again(calls);

  // The typed C++ client (the example's get-customer command) gets the same customer and
  // the same error.
  std::vector<std::unique_ptr<BackgroundProcess>> commands;  // stopped, if still running, at the end
  const auto command = [&](const std::string& id) {
    commands.push_back(std::make_unique<BackgroundProcess>(
        "get-customer-" + id,
        std::vector<std::string>{SNAP_CUSTOMER_APP, "run", "get-customer", id, "--log", build.log().string()},
        LocalBuild::environment({{"SNAP_POSTGRES", postgres}}), build.dir()));
    EXPECT_TRUE(commands.back()->wait_for_exit(kToolBound)) << commands.back()->describe();
    return commands.back().get();
  };
  BackgroundProcess* found = command("go-1");
  EXPECT_EQ(found->exit_code(), 0) << found->describe();
  EXPECT_EQ(body_json(found->out()), ada) << found->describe();
  BackgroundProcess* missing = command("nobody");
  EXPECT_NE(missing->exit_code(), 0) << missing->describe();
  EXPECT_THAT(missing->err(), HasSubstr("not_found: no customer nobody")) << missing->describe();
}

#ifdef SNAP_OPENAPI_APP
// ---- tests/api/openapi_app.cc: path, query, body, optional, nested, vector, map ----

// `exercise`'s lines ("create {...}"): what the typed C++ client got, call by call.
std::vector<std::pair<std::string, json::value>> exercise_lines(const std::string& out) {
  std::vector<std::pair<std::string, json::value>> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    const auto space = line.find(' ');
    if (line.empty() || space == std::string::npos) continue;
    lines.emplace_back(line.substr(0, space), json::parse(line.substr(space + 1)));
  }
  return lines;
}

TEST(OpenApiInterop, TheTestProgramCalledFromGoAnswersAsItAnswersCpp) {
  const GoTools tools;
  REQUIRE_GO_TOOLS(tools);
  LocalBuild build(SNAP_OPENAPI_APP);
  const unsigned short shop_port = build.port("openapi-app.shop.api.port");
  const unsigned short status_port = build.port("openapi-app.status.port");
  BackgroundProcess& shop = build.start("shop.api");
  BackgroundProcess& status = build.start("status");
  LocalBuild::wait_healthy(shop, shop_port);
  LocalBuild::wait_healthy(status, status_port);

  const fs::path shop_document = checked_document(tools, build, "shop-api", shop_port);
  const fs::path status_document = checked_document(tools, build, "status", status_port);
  GeneratedClient client(tools, "openapi_app", {{"shopapi", shop_document}, {"statusapi", status_document}});
  const std::string shop_url = "http://127.0.0.1:" + std::to_string(shop_port);
  const std::string status_url = "http://127.0.0.1:" + std::to_string(status_port);
  const std::vector<GoCall> calls = client.run({shop_url, status_url});
  ASSERT_FALSE(calls.empty()) << build.describe();

  // The typed C++ client: exercise makes the same calls with the same values (and begins,
  // as the Go client does, by emptying the shop).
  std::unique_ptr<BackgroundProcess> exercise = std::make_unique<BackgroundProcess>(
      "exercise",
      std::vector<std::string>{SNAP_OPENAPI_APP, "run", "exercise", "--log", build.log().string()},
      LocalBuild::environment({}), build.dir());
  ASSERT_TRUE(exercise->wait_for_exit(kToolBound)) << exercise->describe();
  ASSERT_EQ(exercise->exit_code(), 0) << exercise->describe();
  const auto typed = exercise_lines(exercise->out());
  ASSERT_FALSE(typed.empty()) << exercise->describe();
  std::set<std::string> exercised;
  for (const auto& [name, value] : typed) exercised.insert(name);
  std::vector<std::pair<std::string, json::value>> go;
  for (const GoCall& c : calls) {
    if (exercised.count(c.call) != 0) go.emplace_back(c.call, c.status == 200 ? c.body : json::value(c.status));
  }
  // One difference is the document's to say: a uint64_t member's schema is format int64
  // (minimum 0, maximum 2^64-1), which oapi-codegen makes an int64, so the Go client sends
  // the largest int64 where exercise sends the largest uint64_t. Both are answered as sent.
  for (auto& [name, value] : go) {
    if (name != "limits" || !value.is_object()) continue;
    const json::value* u64 = value.as_object().if_contains("u64");
    if (u64 != nullptr && *u64 == json::value(std::numeric_limits<std::int64_t>::max())) {
      value.as_object()["u64"] = std::numeric_limits<std::uint64_t>::max();
    }
  }
  EXPECT_EQ(go, typed) << "the Go client's answers (left) and the typed C++ client's (right), in call order";

  // Optional members left out travel left out, both ways.
  const GoCall& minimal = find_call(calls, "create-minimal");
  ASSERT_TRUE(minimal.request_body.has_value());
  const json::object sent = json::parse(*minimal.request_body).as_object();
  EXPECT_FALSE(sent.contains("billing")) << *minimal.request_body;
  EXPECT_FALSE(sent.contains("rank")) << *minimal.request_body;
  EXPECT_FALSE(sent.at("address").as_object().contains("zip")) << *minimal.request_body;
  EXPECT_EQ(find_call(calls, "get-minimal").status, 200);
  EXPECT_EQ(find_call(calls, "get-minimal").body,
            (json::object{{"id", "plain"}, {"name", "Plain"}, {"tags", json::array{}}, {"stock", json::object{}},
                          {"address", {{"city", "Bergen"}}}, {"past", json::array{}}, {"extra", nullptr}}));
  // limit left out; verbose is not optional, so the generated client always sends it.
  EXPECT_EQ(find_call(calls, "get-minimal").target, "/api/items/plain?verbose=false");
  EXPECT_EQ(find_call(calls, "list-all").target, "/api/items");

  // Errors of the handlers' own.
  EXPECT_EQ(find_call(calls, "get-missing").status, 404);
  EXPECT_EQ(find_call(calls, "get-missing").body, error("not_found", "no item nobody"));
  EXPECT_EQ(find_call(calls, "create-duplicate").status, 409);
  EXPECT_EQ(find_call(calls, "create-duplicate").body, error("already_exists", "item plain exists"));
  EXPECT_EQ(find_call(calls, "remove-missing").status, 404);
  EXPECT_EQ(find_call(calls, "get-negative-limit").body, error("invalid_argument", "limit must not be negative"));

  // Requests that break the schema: refused by the binding, with its exact messages.
  const auto refused = [&](const std::string& call, const std::string& message) {
    const GoCall& c = find_call(calls, call);
    EXPECT_EQ(c.status, 400) << call;
    EXPECT_EQ(c.body, error("invalid_argument", message)) << call;
  };
  refused("get-limit-not-integer", "request: $.limit: expected integer, got \"seven\"");
  refused("create-missing-member", "request body: $.name: missing");
  refused("create-nested-wrong-type", "request body: $.address.zip: expected string, got number 5");
  refused("get-verbose-not-boolean", "request: $.verbose: expected boolean, got \"maybe\"");
  refused("counter-not-integer", "request: $.n: expected integer, got \"abc\"");
  // Values the generated Go types hold and the C++ types do not (int32 for a uint16_t,
  // an int8_t): the schema's minimum and maximum say so, the server refuses them.
  refused("counter-out-of-range", "request: $.n: expected integer in range, got number 65536");
  refused("get-limit-out-of-range", "request: $.limit: expected integer in range, got number 2147483648");
  refused("limits-out-of-range", "request body: $.i8: expected integer in range, got number 128");

  // A C++ caller sending the same bytes in the same order gets every answer the Go client
  // got: the schema-breaking requests above, and those whose messages only this pins.
  expect_same_answers_sent_again(calls);
}
#endif  // SNAP_OPENAPI_APP

}  // namespace
}  // namespace snap::testing
