// In-process lifecycle checks: duplicate ids, phases, manifests, secrets per persona.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../format/log_test_util.h"
#include "../support/fake_system.h"
#include "snap/app.h"
#include "snap/lifecycle.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/secrets.h"

#include <boost/json.hpp>
#include <set>

namespace snap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(App, DuplicateIdNamesBothPlaces) {
  testing::FakeSystem system;
  const int first_line = __LINE__ + 3;
  try {
    start_dev_app("dup", [&](App& app) {
      app.add<Port>("db");
      app.add<Port>("db");
    }, system, {});
    FAIL() << "expected a duplicate id error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("duplicate id dup.db: first created at"));
    EXPECT_THAT(e.what(), HasSubstr("app_test.cc:" + std::to_string(first_line) + ", again at"));
    EXPECT_THAT(e.what(), HasSubstr("app_test.cc:" + std::to_string(first_line + 1)));
  }
}

TEST(App, PhaseAssertionsReportModeAndPhase) {
  testing::FakeSystem system;
  auto app = start_dev_app("phases", [](App& a) {
    a.assert_startup();
    EXPECT_THROW(a.assert_not_startup(), PhaseError);
    try {
      a.assert_runtime();
      ADD_FAILURE();
    } catch (const PhaseError& e) {
      EXPECT_THAT(e.what(), HasSubstr("assert_runtime failed at"));
      EXPECT_THAT(e.what(), HasSubstr("the program is in dev mode, startup phase"));
    }
  }, system, {});
  app->assert_runtime();
  app->assert_not_startup();
  try {
    app->assert_build_time();
    FAIL();
  } catch (const PhaseError& e) {
    EXPECT_THAT(e.what(), HasSubstr("assert_build_time failed"));
    EXPECT_THAT(e.what(), HasSubstr("dev mode, runtime phase"));
  }
  EXPECT_THROW(app->add<Port>("late"), PhaseError) << "the tree is frozen after startup";
}

TEST(App, ManifestRecordsTypesPersonasConfigAndUses) {
  testing::FakeSystem system;
  auto app = start_dev_app("m", [](App& a) {
    auto& port = a.add<Port>("port");
    auto& pw = a.add<Password>("pw");
    a.add<Persona>("api", PersonaKind::kDaemon, [](PersonaContext&) { return 0; }).uses(port).uses(pw);
  }, system, {});
  const Manifest m = app->manifest();
  ASSERT_EQ(m.components.size(), 4u);
  EXPECT_EQ(m.components[0].id, "m");
  EXPECT_EQ(m.components[0].type, "App");
  EXPECT_EQ(m.components[1].config, R"({"port":35000})");
  EXPECT_EQ(m.components[3].persona, "daemon");
  EXPECT_THAT(m.components[3].uses, ElementsAre("m.port", "m.pw"));
  EXPECT_THAT(app->secrets_for(*app->find_persona("api")), ElementsAre("pw"));
}

TEST(App, CompareManifestsListsAddedRemovedChanged) {
  Manifest before = testing::test_manifest();
  Manifest after = before;
  after.components.erase(after.components.begin() + 2);  // test-app.db
  after.components[1].config = R"({"port":35001})";
  after.components.push_back({"test-app.cache", "Store", "", "{}", {}});
  try {
    compare_manifests(before, after);
    FAIL();
  } catch (const ManifestMismatch& e) {
    EXPECT_THAT(e.added(), ElementsAre("test-app.cache"));
    EXPECT_THAT(e.removed(), ElementsAre("test-app.db"));
    EXPECT_THAT(e.changed(), ElementsAre("test-app.api"));
  }
  EXPECT_NO_THROW(compare_manifests(before, before));
}

TEST(App, InProcessBuildThenReplayReachesTheSameValues) {
  testing::TempDir out;
  std::string built_uuid, replayed_uuid;
  int built_port = 0, replayed_port = 0;
  auto define = [](std::string& uuid, int& port) {
    return [&uuid, &port](App& a) {
      port = a.add<Port>("p").number();
      uuid = a.membrane().uuid();
    };
  };
  testing::FakeSystem build_system(1), run_system(2);
  build_app("inproc", define(built_uuid, built_port), build_system, BuildOptions{out.path(), {}});
  auto secrets = secrets_from_map({});
  auto app = replay_app("inproc", define(replayed_uuid, replayed_port), run_system,
                        ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  EXPECT_THAT(LogReader::open(out / "snapshot.snaplog")->header().binary_fingerprint,
              ::testing::MatchesRegex("id_test build-id [0-9a-f]{40}"));
  EXPECT_EQ(replayed_uuid, built_uuid);
  EXPECT_EQ(replayed_port, built_port);
  EXPECT_EQ(app->phase(), Phase::kRuntime);
  // The startup membrane is gone with startup.
  try {
    app->membrane();
    FAIL();
  } catch (const PhaseError& e) {
    EXPECT_THAT(e.what(), HasSubstr("is the startup membrane, and startup is over (run mode, runtime phase): in a "
                                    "persona body read live inputs through ctx.membrane()"));
  }

  // A log of another app is refused as such.
  try {
    replay_app("other", define(replayed_uuid, replayed_port), run_system,
               ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
    FAIL();
  } catch (const LogError& e) {
    EXPECT_THAT(e.what(), HasSubstr("recorded by app \"inproc\", this program is \"other\""));
  }
}

TEST(App, BuildFailsWhenARequiredSecretIsMissing) {
  testing::TempDir out;
  testing::FakeSystem system;
  try {
    build_app("s", [](App& a) { a.add<Secret>("stripe-key"); }, system, BuildOptions{out.path(), {}});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("secret \"stripe-key\" has no value: supply --secret stripe-key=VALUE or set "
                                    "$SNAP_SECRET_STRIPE_KEY"));
  }
  EXPECT_FALSE(std::filesystem::exists(out / "snapshot.snaplog"));
  build_app("s", [](App& a) { a.add<Secret>("stripe-key"); }, system,
            BuildOptions{out.path(), {{"stripe-key", "sk_live_123"}}});
  EXPECT_EQ(testing::read_file(out / "state/secrets/stripe-key"), "sk_live_123");
}


TEST(App, ASuppliedSecretTheProgramDoesNotDeclareIsAUsageError) {
  testing::TempDir out;
  testing::FakeSystem system;
  const DefineApp define = [](App& a) {
    a.add<Secret>("stripe-key");
    a.add<Secret>("mail-token");
    a.add<Password>("db-password");
  };
  const std::map<std::string, std::string, std::less<>> typo{
      {"stripe-kye", "sk_live_123"}, {"stripe-key", "sk"}, {"mail-token", "m"}};
  try {
    build_app("s", define, system, BuildOptions{out.path(), typo});
    FAIL() << "accepted --secret stripe-kye";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--secret stripe-kye=...: the program declares no such secret; declared secrets: mail-token, stripe-key");
    EXPECT_EQ(exit_status_for(e), kExitUsage);
  }
  EXPECT_FALSE(std::filesystem::exists(out / "snapshot.snaplog"));
  // A Password is generated, never supplied: naming it is the same mistake.
  EXPECT_THROW(build_app("s", define, system,
                         BuildOptions{out.path(), {{"db-password", "x"}, {"stripe-key", "sk"}, {"mail-token", "m"}}}),
               UsageError);
  EXPECT_THROW(start_dev_app("s", define, system, DevOptions{typo}), UsageError);
  build_app("s", define, system, BuildOptions{out.path(), {{"stripe-key", "sk"}, {"mail-token", "m"}}});
}

// Two --local builds on one host share its ports: the second app's numbers avoid the first's.
TEST(App, LocalBuildsOfDifferentAppsGetDifferentPorts) {
  testing::TempDir state, alpha_out, beta_out, shop_out;
  testing::FakeSystem system;
  system.variables["XDG_STATE_HOME"] = state.path().string();
  auto ports_of = [](const std::filesystem::path& out) {
    const boost::json::value v = boost::json::parse(testing::read_file(out / "state/build-state.json"));
    EXPECT_FALSE(v.as_object().contains("snap.ports-held-elsewhere")) << "this host's other builds stay out of it";
    std::set<std::int64_t> numbers;
    for (const auto& [id, n] : v.at("ports").as_object()) numbers.insert(n.as_int64());
    return numbers;
  };
  const DefineApp alpha = [](App& a) {
    a.add<Port>("api");
    a.add<Port>("admin");
  };
  const DefineApp beta = [](App& a) { a.add<Port>("api"); };
  BuildOptions local;
  local.placement = Placement::kLocal;
  local.out_dir = alpha_out.path();
  build_app("alpha", alpha, system, local);
  local.out_dir = beta_out.path();
  build_app("beta", beta, system, local);
  EXPECT_EQ(ports_of(alpha_out.path()), (std::set<std::int64_t>{35000, 35001}));
  EXPECT_EQ(ports_of(beta_out.path()), (std::set<std::int64_t>{35002}));
  // Rebuilds keep their numbers: a build's own holding is not another build's.
  build_app("beta", beta, system, local);
  local.out_dir = alpha_out.path();
  build_app("alpha", alpha, system, local);
  EXPECT_EQ(ports_of(alpha_out.path()), (std::set<std::int64_t>{35000, 35001}));
  EXPECT_EQ(ports_of(beta_out.path()), (std::set<std::int64_t>{35002}));
  // The choice is in the log: the persona replays the number the build chose.
  std::uint16_t replayed = 0;
  const DefineApp beta_reads = [&](App& a) { replayed = a.add<Port>("api").number(); };
  replay_app("beta", beta_reads, system, ReplayOptions{beta_out / "snapshot.snaplog", Mode::kRun, nullptr});
  EXPECT_EQ(replayed, 35002);
  // Containers have a network each: a containers build numbers from 35000 as before.
  build_app("shop", beta, system, BuildOptions{shop_out.path(), {}, Placement::kContainers});
  EXPECT_EQ(ports_of(shop_out.path()), (std::set<std::int64_t>{35000}));
  // A build directory removed gives its numbers back.
  std::filesystem::remove_all(alpha_out.path());
  local.out_dir = shop_out.path();
  build_app("shop", beta, system, local);
  EXPECT_EQ(ports_of(shop_out.path()), (std::set<std::int64_t>{35000}));
}

}  // namespace
}  // namespace snap

namespace snap {
namespace {

TEST(App, ANameWithANulByteIsRefusedAtAdd) {
  testing::FakeSystem system;
  try {
    start_dev_app("nul", [](App& a) { a.add<Password>(std::string("db\0password", 11)); }, system, {});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("component name under nul at "));
    EXPECT_THAT(e.what(), ::testing::HasSubstr(" contains a NUL byte"));
  }
}

TEST(App, AScopeGroupsComponentsWithoutBehaviour) {
  testing::FakeSystem system;
  auto app = start_dev_app(
      "shop", [](App& a) { a.scope("billing").add<Port>("api-port"); }, system, {});
  const Manifest m = app->manifest();
  ASSERT_EQ(m.components.size(), 3u);
  EXPECT_EQ(m.components[1].id, "shop.billing");
  EXPECT_EQ(m.components[1].type, "Scope");
  EXPECT_EQ(m.components[2].id, "shop.billing.api-port");
}

}  // namespace
}  // namespace snap
