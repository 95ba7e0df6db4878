// Calls between two builds of one program (docs/api.md, "Version skew"): a client
// replayed from build v1's log calls servers replayed from build v2's, over HTTP on
// loopback, as a rolling update makes them do. A strict server refuses the call before its
// handler runs and the caller, finding no replica of its own build, fails with
// failed_precondition, reason version_skew, naming both builds; a warn server serves it
// and counts it; a call with no build id (from outside the program) is served by both.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "../format/log_test_util.h"
#include "raw_http.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/lifecycle.h"
#include "snap/metrics.h"
#include "test_app.h"
#include "version_skew.h"

namespace snap {
namespace {

using ::testing::HasSubstr;

// Both builds: a strict server, a warn one, and a client that uses both. v2 adds an
// endpoint, so that its log (and build id) differs from v1's.
void define(App& app, int version, Endpoint<void, std::string>& strict_ping, Endpoint<void, std::string>& warn_ping,
            Endpoint<void, void>& refuse) {
  ApiServerOptions strict_options;
  strict_options.version_skew = VersionSkew::kStrict;
  // A refused caller waits this long for a replica of its own build before it fails.
  strict_options.wait_for_server = std::chrono::milliseconds(300);
  auto& strict = app.add<ApiServer>("strict", strict_options);
  ApiServerOptions warn_options;
  warn_options.version_skew = VersionSkew::kWarn;
  auto& warn = app.add<ApiServer>("warn", warn_options);
  const auto answer = [](PersonaContext& ctx) { return ctx.app().build_id(); };
  strict_ping = strict.endpoint<void, std::string>("GET", "/ping", answer);
  warn_ping = warn.endpoint<void, std::string>("GET", "/ping", answer);
  refuse = warn.endpoint<void, void>("POST", "/refuse", [] {
    throw ApiError(ErrorCode::kFailedPrecondition, "not now", "maintenance");
  });
  if (version >= 2) warn.endpoint<void, std::string>("GET", "/v2", [] { return std::string("new"); });
  app.add<Persona>("client", PersonaKind::kCommand, [](PersonaContext&) { return 0; }).uses(strict).uses(warn);
}

struct Build {
  Endpoint<void, std::string> strict_ping, warn_ping;
  Endpoint<void, void> refuse;
};

class VersionSkewTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fixture_ = new Fixture(); }
  static void TearDownTestSuite() {
    delete fixture_;
    fixture_ = nullptr;
  }

  struct Fixture {
    testing::TempDir dir;
    std::map<const App*, Build> endpoints;
    std::unique_ptr<App> server_v2, client_v1, client_v2;
    std::unique_ptr<PersonaContext> caller_v1, caller_v2;
    std::vector<std::pair<const Persona*, std::unique_ptr<PersonaContext>>> running;
    std::vector<std::thread> threads;
    unsigned short strict_port = apitest::free_port(), warn_port = apitest::free_port();

    DefineApp version(int v) {
      return [this, v](App& app) {
        Build& b = endpoints[&app];
        define(app, v, b.strict_ping, b.warn_ping, b.refuse);
      };
    }
    // Built as `build --local` would, both into one directory as an upgrade does (so both
    // keep its ports); each build's log is kept as it was written.
    std::filesystem::path build(int v) {
      const auto out = dir / "out";
      if (!std::filesystem::exists(out / "state/build-state.json")) {
        std::filesystem::create_directories(out / "state");
        boost::json::object ports{{"skew.strict.port", strict_port}, {"skew.warn.port", warn_port}};
        testing::write_file(out / "state/build-state.json",
                            boost::json::serialize(boost::json::object{{"ports", ports}}));
      }
      BuildOptions options;
      options.out_dir = out;
      options.placement = Placement::kLocal;
      build_app("skew", version(v), real_env(), options);
      const auto kept = dir / ("v" + std::to_string(v) + ".snaplog");
      std::filesystem::copy_file(out / "snapshot.snaplog", kept);
      return kept;
    }
    std::unique_ptr<App> replay(int v, const std::filesystem::path& log) {
      return replay_app("skew", version(v), real_env(), ReplayOptions{log, Mode::kRun, nullptr});
    }

    Fixture() {
      const auto log_v1 = build(1), log_v2 = build(2);
      server_v2 = replay(2, log_v2);
      client_v1 = replay(1, log_v1);
      client_v2 = replay(2, log_v2);
      caller_v1 = std::make_unique<PersonaContext>(*client_v1, *client_v1->find_persona("client"),
                                                   std::vector<std::string>{});
      caller_v2 = std::make_unique<PersonaContext>(*client_v2, *client_v2->find_persona("client"),
                                                   std::vector<std::string>{});
      for (const char* name : {"strict", "warn"}) {
        const Persona* p = server_v2->find_persona(name);
        running.emplace_back(p, std::make_unique<PersonaContext>(*server_v2, *p, std::vector<std::string>{}));
      }
      for (auto& [p, ctx] : running) threads.emplace_back([p = p, c = ctx.get()] { p->run(*c); });
      const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      for (auto& [p, ctx] : running) {
        while (!p->healthy(*ctx)) {
          if (std::chrono::steady_clock::now() > bound) throw std::runtime_error("server did not become healthy");
          std::this_thread::yield();
        }
      }
    }
    ~Fixture() {
      for (auto& [p, ctx] : running) stop_persona(*ctx);
      for (std::thread& t : threads) t.join();
    }
  };

  static Build& v1() { return fixture_->endpoints.at(fixture_->client_v1.get()); }
  static Build& v2() { return fixture_->endpoints.at(fixture_->client_v2.get()); }
  static PersonaContext& caller_v1() { return *fixture_->caller_v1; }
  static PersonaContext& caller_v2() { return *fixture_->caller_v2; }
  static const std::string& build_v1() { return fixture_->client_v1->build_id(); }
  static const std::string& build_v2() { return fixture_->server_v2->build_id(); }
  static std::string metrics() { return fixture_->server_v2->metrics().exposition(); }

  static Fixture* fixture_;
};

VersionSkewTest::Fixture* VersionSkewTest::fixture_ = nullptr;

TEST_F(VersionSkewTest, TheTwoBuildsHaveDifferentIds) {
  EXPECT_EQ(build_v1().size(), 12u);
  EXPECT_NE(build_v1(), build_v2());
}

TEST_F(VersionSkewTest, CallsFromTheSameBuildAreServedByEitherPolicy) {
  EXPECT_EQ(v2().strict_ping(caller_v2()), build_v2());
  EXPECT_EQ(v2().warn_ping(caller_v2()), build_v2());
}

TEST_F(VersionSkewTest, StrictRefusesACallFromAnotherBuildAndTheCallerFailsWithNoReplicaOfItsOwn) {
  try {
    v1().strict_ping(caller_v1());
    ADD_FAILURE() << "a call from build v1 was served by a strict server of build v2";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(e.reason(), "version_skew");
    EXPECT_THAT(e.message(), HasSubstr("this call comes from build " + build_v1()));
    EXPECT_THAT(e.message(), HasSubstr("runs build " + build_v2()));
  }
  EXPECT_THAT(metrics(), HasSubstr("snap_http_server_version_skew_total{server=\"strict\",peer_build=\"" +
                                   build_v1() + "\",action=\"refused\"}"));
}

TEST_F(VersionSkewTest, WarnServesACallFromAnotherBuildAndCountsIt) {
  EXPECT_EQ(v1().warn_ping(caller_v1()), build_v2());
  EXPECT_EQ(v1().warn_ping(caller_v1()), build_v2());
  EXPECT_THAT(metrics(), HasSubstr("snap_http_server_version_skew_total{server=\"warn\",peer_build=\"" +
                                   build_v1() + "\",action=\"served\"} 2"));
}

TEST_F(VersionSkewTest, ACallWithNoBuildIdIsServedEvenByAStrictServer) {
  const std::string response =
      apitest::raw_exchange(fixture_->strict_port, "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(response, HasSubstr("\"" + build_v2() + "\""));
}

TEST_F(VersionSkewTest, TheRefusalNamesTheServersBuildAndAnyValueIsAnotherBuild) {
  const std::string response = apitest::raw_exchange(
      fixture_->strict_port, "GET /ping HTTP/1.1\r\nHost: x\r\nsnap-build: not a build\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 412"));
  EXPECT_THAT(response, HasSubstr("Snap-Build: " + build_v2() + "\r\n"));
  EXPECT_THAT(response, HasSubstr(R"("code":"failed_precondition")"));
  EXPECT_THAT(response, HasSubstr(R"("reason":"version_skew")"));
  EXPECT_THAT(response, HasSubstr(R"(this call comes from build \"invalid\")"));
  EXPECT_THAT(metrics(), HasSubstr("peer_build=\"invalid\",action=\"refused\"}"));
}

TEST_F(VersionSkewTest, AHandlersErrorReasonCrossesToTheCaller) {
  try {
    v2().refuse(caller_v2());
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(e.message(), "not now");
    EXPECT_EQ(e.reason(), "maintenance");
    EXPECT_EQ(e.detail(), "api.maintenance");
  }
}

TEST(VersionSkewPolicy, TheOptionWinsThenTheDeploymentsVariableThenWarn) {
  using api_detail::resolve_version_skew;
  EXPECT_EQ(resolve_version_skew(VersionSkew::kStrict, "warn", "a.api"), VersionSkew::kStrict);
  EXPECT_EQ(resolve_version_skew(VersionSkew::kWarn, "strict", "a.api"), VersionSkew::kWarn);
  EXPECT_EQ(resolve_version_skew(VersionSkew::kByDeployment, "strict", "a.api"), VersionSkew::kStrict);
  EXPECT_EQ(resolve_version_skew(VersionSkew::kByDeployment, "warn", "a.api"), VersionSkew::kWarn);
  EXPECT_EQ(resolve_version_skew(VersionSkew::kByDeployment, std::nullopt, "a.api"), VersionSkew::kWarn);
  EXPECT_EQ(resolve_version_skew(VersionSkew::kByDeployment, "", "a.api"), VersionSkew::kWarn);
}

TEST(VersionSkewPolicy, AnUnknownValueOfTheVariableIsRefusedNamingTheServer) {
  try {
    api_detail::resolve_version_skew(VersionSkew::kByDeployment, "Strict", "a.api");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "ApiServer a.api: SNAP_VERSION_SKEW=\"Strict\": expected strict or warn");
  }
}

}  // namespace
}  // namespace snap
