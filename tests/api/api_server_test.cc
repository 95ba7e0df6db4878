// snap::ApiServer: one suite, run against the dev (direct) and HTTP (loopback)
// transports, expecting identical results: every request/response shape, every error
// code, unknown and missing fields, the `uses` rule; plus the manifest, health, and
// declaration errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "raw_call.h"
#include "test_app.h"

namespace snap::apitest {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class Transports : public ::testing::TestWithParam<Transport> {
 protected:
  Deployment& d() { return shared_deployment(GetParam()); }
  Endpoints& e() { return d().endpoints(); }
  PersonaContext& ctx() { return d().client(); }

  // Calls and returns the ApiError it throws ("(none)" if it returns).
  template <typename F>
  static ApiError error_of(F&& call) {
    try {
      call();
    } catch (const ApiError& e) {
      return e;
    }
    return ApiError(ErrorCode::kUnknown, "(none)");
  }
};

INSTANTIATE_TEST_SUITE_P(Api, Transports, ::testing::Values(Transport::kDev, Transport::kHttp),
                         [](const auto& info) { return to_string(info.param); });

TEST_P(Transports, StructsWithOptionalsVectorsAndNestingRoundTrip) {
  Person p{"Ada", 36, true, 0.25, {"math", "", "engines"}, Address{"London", "NW1"},
           {Address{"Paris", std::nullopt}, Address{"", ""}}, 1};
  EXPECT_EQ(e().echo(ctx(), p), p);
  Person sparse{"x", -1, false, -1e300, {}, Address{"c", std::nullopt}, {}, std::nullopt};
  EXPECT_EQ(e().echo(ctx(), sparse), sparse);
}

TEST_P(Transports, ZeroFalseAndEmptyResponsesArePreserved) {
  const Person z = e().zeros(ctx());
  EXPECT_EQ(z.name, "");
  EXPECT_EQ(z.age, 0);
  EXPECT_FALSE(z.admin);
  EXPECT_EQ(z.score, 0.0);
  EXPECT_TRUE(z.tags.empty());
  EXPECT_EQ(z.rank, std::optional<int>(0));
  EXPECT_EQ(z.address.zip, std::optional<std::string>(""));
}

TEST_P(Transports, StringsWithNulAndNonAsciiAreExact) {
  const std::string s("nul\0inside, é, 日本, 🎉, \x7f", 31);
  EXPECT_EQ(e().text(ctx(), s), s + s);
  EXPECT_EQ(e().text(ctx(), ""), "");
}

TEST_P(Transports, VoidResponsesAndRequestlessEndpoints) {
  e().record(ctx(), Note{"first"});
  e().record(ctx(), Note{""});
  const auto notes = e().recorded(ctx());
  ASSERT_GE(notes.size(), 2u);
  EXPECT_EQ(notes[notes.size() - 2], "first");
  EXPECT_EQ(notes.back(), "");
}

TEST_P(Transports, HandlersGetTheServerPersonasContext) {
  EXPECT_EQ(e().whoami(ctx()), "apitest.api");
}

TEST_P(Transports, EveryErrorCodeCrossesAsTheSameCodeAndMessage) {
  for (ErrorCode code : {ErrorCode::kCanceled, ErrorCode::kUnknown, ErrorCode::kInvalidArgument,
                         ErrorCode::kDeadlineExceeded, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
                         ErrorCode::kPermissionDenied, ErrorCode::kResourceExhausted, ErrorCode::kFailedPrecondition,
                         ErrorCode::kAborted, ErrorCode::kOutOfRange, ErrorCode::kUnimplemented, ErrorCode::kInternal,
                         ErrorCode::kUnavailable, ErrorCode::kDataLoss, ErrorCode::kUnauthenticated}) {
    const std::string message = "because " + std::string(to_string(code)) + " \"quoted\" ✓";
    const ApiError err = error_of([&] { e().fail(ctx(), Failure{std::string(to_string(code)), message}); });
    EXPECT_EQ(err.code(), code) << to_string(code);
    EXPECT_EQ(err.message(), message);
  }
}

TEST_P(Transports, OtherExceptionsAreInternalAndTheirTextStaysOnTheServer) {
  const ApiError err = error_of([&] { e().crash(ctx()); });
  EXPECT_EQ(err.code(), ErrorCode::kInternal);
  EXPECT_EQ(err.message(), "internal error (details are in the server's log)");
  EXPECT_THAT(err.what(), Not(HasSubstr("hunter2")));
}

// A store error is the caller's to act on: retry an outage or a conflict, fix a bad key.
// Only a message about the caller's own input crosses; the others name the database.
TEST_P(Transports, StoreErrorsCrossAsTheCodeThatSaysWhatToDo) {
  const std::string detail = "store \"s\": PostgreSQL (host=db-host port=5432) said no";
  const struct {
    const char* store_code;
    ErrorCode code;
    std::string message;
  } cases[] = {
      {"unavailable", ErrorCode::kUnavailable, "the database is unavailable; retry later"},
      {"conflict", ErrorCode::kAborted, "the write kept conflicting with concurrent writes; retry it"},
      {"invalid_argument", ErrorCode::kInvalidArgument, detail},
      {"already_exists", ErrorCode::kAlreadyExists, detail},  // an insert of a key that is there: 409
      {"in_doubt", ErrorCode::kUnavailable,
       "the database connection broke while the write was committing: it may or may not have happened; check "
       "before retrying"},
      {"backend", ErrorCode::kInternal, "internal error (details are in the server's log)"},
      {"conversion", ErrorCode::kInternal, "internal error (details are in the server's log)"},
  };
  for (const auto& c : cases) {
    const ApiError err = error_of([&] { e().store_fail(ctx(), Failure{c.store_code, detail}); });
    EXPECT_EQ(err.code(), c.code) << c.store_code;
    EXPECT_EQ(err.message(), c.message) << c.store_code;
  }
}

TEST_P(Transports, KeysTheStoreRefusesAreInvalidArgument) {
  EXPECT_FALSE(e().store_has(ctx(), "absent"));
  const ApiError empty = error_of([&] { e().store_has(ctx(), ""); });
  EXPECT_EQ(empty.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "store \"apitest-store\": key is empty");
  const ApiError nul = error_of([&] { e().store_has(ctx(), std::string("a\0b", 3)); });
  EXPECT_EQ(nul.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(nul.message(), HasSubstr("store \"apitest-store\": key \"a\\x00b\" contains a NUL character"));
  const ApiError too_long = error_of([&] { e().store_has(ctx(), std::string(kMaxKeyBytes + 1, 'k')); });
  EXPECT_EQ(too_long.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(too_long.message(), HasSubstr("over the limit of 1024 bytes"));
}

TEST_P(Transports, UnknownRequestFieldsAreIgnored) {
  EXPECT_EQ(api_detail::RawCall::call(*e().api, ctx(), e().strict.route(), R"({"count":7,"name":"n","added_later":{"x":[1]}})"), "7");
}

TEST_P(Transports, MissingOrMistypedRequestFieldIsInvalidArgumentNamingIt) {
  ApiError missing = error_of([&] { api_detail::RawCall::call(*e().api, ctx(), e().strict.route(), R"({"name":"n"})"); });
  EXPECT_EQ(missing.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(missing.message(), "request body: $.count: missing");
  ApiError mistyped = error_of([&] { api_detail::RawCall::call(*e().api, ctx(), e().strict.route(), R"({"count":"7","name":"n"})"); });
  EXPECT_EQ(mistyped.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(mistyped.message(), "request body: $.count: expected integer, got string");
  ApiError not_json = error_of([&] { api_detail::RawCall::call(*e().api, ctx(), e().strict.route(), "{"); });
  EXPECT_EQ(not_json.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(not_json.message(), HasSubstr("request body: $: not JSON: "));
}

TEST_P(Transports, ANonFiniteNumberIsRefusedBothWays) {
  // In: a number too large for the double it is read into (the parser's infinity).
  const ApiError in = error_of([&] {
    api_detail::RawCall::call(*e().api, ctx(), e().echo.route(),
                  R"({"name":"n","age":1,"admin":false,"score":1e999999,"tags":[],"address":{"city":"c"},"past":[]})");
  });
  EXPECT_EQ(in.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(in.message(), "request body: $.score: expected finite number, got number out of range");
  // Out: a handler's infinity is the server's error, never `Infinity` on the wire.
  const ApiError out = error_of([&] { e().infinite(ctx()); });
  EXPECT_EQ(out.code(), ErrorCode::kInternal);
  EXPECT_EQ(out.message(), "response body: $.score: not JSON: a non-finite number (JSON has no NaN or infinity)");
}

TEST_P(Transports, CallingAServerThePersonaDoesNotUseIsAUsesError) {
  try {
    e().echo(d().stranger(), Person{});
    FAIL() << "no error";
  } catch (const UsesError& err) {
    EXPECT_THAT(err.what(), AllOf(HasSubstr("persona stranger (apitest.stranger) does not use apitest.api (ApiServer)"),
                                  HasSubstr("api_server_test.cc"), HasSubstr(".uses(api)")));
  }
}

TEST_P(Transports, ConcurrentCallersEachGetTheirOwnAnswer) {
  Endpoints& endpoints = e();  // the deployment is made here, before the threads
  PersonaContext& caller = ctx();
  std::vector<std::thread> threads;
  std::atomic<int> right{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string s = std::to_string(t) + ":" + std::to_string(i);
        if (endpoints.text(caller, s) == s + s) ++right;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(right.load(), 8 * 50);
}

TEST_P(Transports, ServerIsHealthyWhileRunning) {
  EXPECT_TRUE(e().api->healthy(ctx()));
}

// ---- not transport-specific ----

TEST(ApiServerManifest, ConfigRecordsPortEndpointsAndLimits) {
  Deployment d(Transport::kHttp, /*run_servers=*/false);
  const Manifest m = d.server_app().manifest();
  const ComponentEntry* entry = nullptr;
  for (const auto& c : m.components) {
    if (c.id == "apitest.tight") entry = &c;
  }
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->type, "ApiServer");
  const auto config = boost::json::parse(entry->config).as_object();
  EXPECT_EQ(config.at("port").as_int64(), d.tight_port());
  const auto& endpoints = config.at("endpoints").as_array();
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(boost::json::serialize(endpoints[0]),
            R"({"method":"POST","path":"/echo","idempotent":false,"request":{"$ref":"#/schemas/Person"},)"
            R"("response":{"$ref":"#/schemas/Person"}})");
  EXPECT_EQ(boost::json::serialize(endpoints[1]),
            R"({"method":"GET","path":"/ping","idempotent":true,"response":{"type":"string"}})");
  EXPECT_EQ(boost::json::serialize(config.at("schemas").at("Person").at("required")),
            R"(["name","age","admin","score","tags","address","past"])");
  EXPECT_EQ(config.at("health_path").as_string(), "/healthz");
  EXPECT_EQ(config.at("limits").at("body_limit").as_int64(), static_cast<std::int64_t>(kTightBodyLimit));
  EXPECT_EQ(config.at("limits").at("max_connections").as_int64(), static_cast<std::int64_t>(kTightMaxConnections));
}

TEST(ApiServerHealth, ProbeFailsWhenNothingListens) {
  Deployment d(Transport::kHttp, /*run_servers=*/false);
  EXPECT_FALSE(d.endpoints().api->probe_health(std::chrono::milliseconds(500)));
}

TEST(ApiServerDeclaration, BadMethodsPathsAndDuplicatesAreRefusedAtStartup) {
  Env* system = &real_env();
  auto expect_refused = [&](auto declare, const std::string& message) {
    try {
      start_dev_app("decl", [&](App& app) { declare(app.add<ApiServer>("api")); }, *system, {});
      ADD_FAILURE() << "no error for: " << message;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  };
  auto ok = [](const Note&) {};
  expect_refused([&](ApiServer& s) { s.endpoint<Note, void>("FETCH", "/x", ok); },
                 "ApiServer decl.api: endpoint FETCH /x: method must be GET, POST, PUT, PATCH or DELETE");
  expect_refused([&](ApiServer& s) { s.endpoint<Note, void>("GET", "x", ok); },
                 "ApiServer decl.api: endpoint GET x: path must start with '/' and hold no query, fragment or space");
  expect_refused([&](ApiServer& s) { s.endpoint<Note, void>("GET", "/healthz", ok); },
                 "ApiServer decl.api: endpoint GET /healthz: /healthz is the server's own health check");
  expect_refused(
      [&](ApiServer& s) {
        s.endpoint<Note, void>("POST", "/x", ok);
        s.endpoint<Note, void>("POST", "/x", ok);
      },
      "ApiServer decl.api: endpoint POST /x: declared twice");
}

TEST(ApiServerDeclaration, BadOptionsAreRefusedAtStartup) {
  Env* system = &real_env();
  auto refused = [&](ApiServerOptions options) -> std::string {
    try {
      start_dev_app("opts", [&](App& app) { app.add<ApiServer>("api", options); }, *system, {});
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no error)";
  };
  ApiServerOptions level;
  level.log_level = "loud";
  EXPECT_EQ(refused(level), "ApiServer opts.api: unknown log_level \"loud\" (trace, debug, info, warn, error, critical, off)");
  ApiServerOptions zero;
  zero.body_limit = 0;
  EXPECT_EQ(refused(zero), "ApiServer opts.api: body_limit, header_limit and max_connections must be > 0");
  ApiServerOptions small_budget;
  small_budget.body_budget = small_budget.body_limit - 1;
  EXPECT_EQ(refused(small_budget),
            "ApiServer opts.api: body_budget (1048575) must be at least body_limit (1048576): a body at the limit "
            "could never be read");
}

TEST(ApiServerDeclaration, EndpointsCannotBeAddedAfterStartup) {
  Env* system = &real_env();
  ApiServer* server = nullptr;
  auto app = start_dev_app("decl", [&](App& a) { server = &a.add<ApiServer>("api"); }, *system, {});
  auto late = [&] { server->endpoint<Note, void>("POST", "/late", [](const Note&) {}); };
  EXPECT_THROW(late(), PhaseError);
}

TEST(ApiServerDev, ACallWaitsForTheServerBodyThenFailsUnavailable) {
  Env* system = &real_env();
  Shared shared;
  Endpoints e;
  ApiServerOptions quick;
  quick.wait_for_server = std::chrono::milliseconds(100);
  auto app = start_dev_app(
      "devwait",
      [&](App& a) {
        auto& s = a.add<ApiServer>("api", quick);
        e.zeros = s.endpoint<void, Person>("GET", "/zeros", [] { return Person{}; });
        a.add<Persona>("client", PersonaKind::kCommand, [](PersonaContext&) { return 0; }).uses(s);
      },
      *system, {});
  PersonaContext client(*app, *app->find_persona("client"), {});
  try {
    e.zeros(client);
    FAIL() << "no error";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.code(), ErrorCode::kUnavailable);
    EXPECT_EQ(err.message(), "GET /zeros (devwait.api): the server persona did not start within 100 ms");
  }
}

TEST(ApiServerHttp, AClientStartedBeforeItsServerWaitsForIt) {
  Deployment d(Transport::kHttp, /*run_servers=*/false);
  ASSERT_FALSE(d.endpoints().api->probe_health(std::chrono::milliseconds(500)));  // nothing listens yet
  std::string answer;
  std::thread client([&] { answer = d.endpoints().text(d.client(), "late"); });
  // The server starts after the call began: its first connects are refused, and the
  // call retries with backoff until the server answers.
  const auto* persona = d.server_app().find_persona("api");
  PersonaContext ctx(d.server_app(), *persona, {});
  std::thread server([&] { persona->run(ctx); });
  client.join();
  EXPECT_EQ(answer, "latelate");
  stop_persona(ctx);
  server.join();
}

TEST(ApiServerHttp, AnUnreachableServerIsUnavailableAfterTheBoundedRetry) {
  Env* system = &real_env();
  testing::TempDir dir;
  Endpoints e;
  const unsigned short port = free_port();
  const auto out = dir / "out";
  std::filesystem::create_directories(out / "state");
  testing::write_file(out / "state/build-state.json",
                      R"({"ports":{"gone.api.port":)" + std::to_string(port) + "}}");
  ApiServerOptions quick;
  quick.wait_for_server = std::chrono::milliseconds(200);
  const DefineApp define = [&](App& a) {
    auto& s = a.add<ApiServer>("api", quick);
    e.zeros = s.endpoint<void, Person>("GET", "/zeros", [] { return Person{}; });
    a.add<Persona>("client", PersonaKind::kCommand, [](PersonaContext&) { return 0; }).uses(s);
  };
  BuildOptions options;
  options.out_dir = out;
  options.placement = Placement::kLocal;
  build_app("gone", define, *system, options);
  auto app = replay_app("gone", define, *system, ReplayOptions{out / "snapshot.snaplog", Mode::kRun, nullptr});
  PersonaContext client(*app, *app->find_persona("client"), {});
  try {
    e.zeros(client);
    FAIL() << "no error";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(err.message(), AllOf(HasSubstr("GET /zeros (gone.api) at 127.0.0.1:" + std::to_string(port) + ": "),
                                     HasSubstr("Connection refused"), HasSubstr("attempts in 200 ms")));
  }
}

// A caller asked to stop stops retrying, and the error says that it stopped rather than
// that the server stayed unreachable for wait_for_server.
TEST(ApiServerHttp, ACallerAskedToStopStopsRetryingAndSaysSo) {
  Deployment d(Transport::kHttp, /*run_servers=*/false);  // nothing listens: every connect is refused
  App& client_app = d.endpoints().api->app();
  PersonaContext caller(client_app, *client_app.find_persona("client"), {});
  std::string message;
  std::thread call([&] {
    try {
      d.endpoints().text(caller, "never");
    } catch (const ApiError& err) {
      message = err.message();
    }
  });
  stop_persona(caller);
  call.join();
  EXPECT_THAT(message, HasSubstr("Connection refused (not retried further: the calling persona is stopping; "));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("gave up after")));
}

}  // namespace
}  // namespace snap::apitest
