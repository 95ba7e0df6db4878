// In-process lifecycle checks: duplicate ids, phases, manifests, secrets per persona.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../format/log_test_util.h"
#include "../support/fake_system.h"
#include "snap/app.h"
#include "snap/environment.h"
#include "snap/lifecycle.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/secrets.h"

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

// Each service may have its own `api`: a persona is found by its id, by its id without
// the app's name, or by a short name only one persona has; an ambiguous one lists them.
TEST(App, PersonasInDifferentScopesMayShareAShortName) {
  testing::FakeSystem system;
  auto app = start_dev_app("shop", [](App& app) {
    const auto body = [](PersonaContext&) { return 0; };
    app.scope("orders").add<Persona>("api", PersonaKind::kDaemon, body);
    app.scope("billing").add<Persona>("api", PersonaKind::kDaemon, body);
    app.add<Persona>("report", PersonaKind::kCommand, body);
  }, system, {});
  EXPECT_EQ(app->find_persona("shop.orders.api")->id().str(), "shop.orders.api");
  EXPECT_EQ(app->find_persona("orders.api")->id().str(), "shop.orders.api");
  EXPECT_EQ(app->find_persona("billing.api")->id().str(), "shop.billing.api");
  EXPECT_EQ(app->find_persona("report")->id().str(), "shop.report");
  EXPECT_EQ(app->find_persona("rders.api"), nullptr);  // a whole segment, not any suffix
  EXPECT_EQ(app->find_persona("nothing"), nullptr);
  try {
    app->find_persona("api");
    FAIL() << "an ambiguous name chose a persona";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "\"api\" names several personas (orders.api, billing.api): give the scoped name of one");
  }
  // Lists show what to type: the scoped name where the short one is shared.
  EXPECT_EQ(app->persona_name(*app->find_persona("orders.api")), "orders.api");
  EXPECT_EQ(app->persona_name(*app->find_persona("report")), "report");
  // Their services are named after the whole id: orders-api and billing-api.
  EXPECT_EQ(app->find_persona("orders.api")->id().service_name(), "orders-api");
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
  EXPECT_EQ(m.components[1].config, R"({"port":20000})");
  EXPECT_EQ(m.components[3].persona, "daemon");
  EXPECT_THAT(m.components[3].uses, ElementsAre("m.port", "m.pw"));
  EXPECT_THAT(app->secrets_for(*app->find_persona("api")), ElementsAre("pw"));
}

TEST(App, CompareManifestsListsAddedRemovedChanged) {
  Manifest before = testing::test_manifest();
  Manifest after = before;
  after.components.erase(after.components.begin() + 2);  // test-app.db
  after.components[1].config = R"({"port":20001})";
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

// The environment is chosen once, before define_app runs: in process in dev, else from the
// placement the build recorded, which replay (run and verify) reads back from the log.
TEST(App, EnvironmentComesFromTheModeAndTheRecordedPlacement) {
  std::string seen_at_startup;
  const DefineApp define = [&seen_at_startup](App& a) {
    seen_at_startup = std::string(a.environment().name());
    a.add<Port>("api-port");
    a.add<Persona>("api", PersonaKind::kDaemon, [](PersonaContext&) { return 0; });
  };
  const auto find = [](const App& a, std::string_view name) -> const Component& {
    for (const Component* c : a.components()) {
      if (c->id().name() == name) return *c;
    }
    throw std::logic_error("no component " + std::string(name));
  };

  testing::FakeSystem dev_system(1);
  auto dev = start_dev_app("where", define, dev_system, {});
  EXPECT_EQ(seen_at_startup, "in process");
  EXPECT_EQ(dev->environment().transport(), Environment::Transport::kInProcess);
  EXPECT_TRUE(dev->environment().in_memory_stores());
  EXPECT_TRUE(dev->environment().user_database_allowed());
  EXPECT_FALSE(dev->environment().listens_on_own_network());
  EXPECT_EQ(dev->environment().host_of(find(*dev, "api")), "127.0.0.1");

  auto secrets = secrets_from_map({});
  for (const Placement placement : {Placement::kLocal, Placement::kContainers}) {
    SCOPED_TRACE(std::string(to_string(placement)));
    testing::TempDir out;
    testing::FakeSystem build_system(2), run_system(3);
    build_app("where", define, build_system, BuildOptions{out.path(), {}, placement});
    const bool local = placement == Placement::kLocal;
    EXPECT_EQ(seen_at_startup, local ? "local processes" : "containers");
    for (const Mode mode : {Mode::kRun, Mode::kVerify}) {
      seen_at_startup.clear();
      auto app = replay_app("where", define, run_system, ReplayOptions{out / "snapshot.snaplog", mode, secrets.get()});
      const Environment& where = app->environment();
      EXPECT_EQ(seen_at_startup, where.name());
      EXPECT_EQ(where.name(), local ? "local processes" : "containers");
      EXPECT_EQ(where.transport(), Environment::Transport::kHttp);
      EXPECT_FALSE(where.in_memory_stores());
      EXPECT_EQ(where.user_database_allowed(), local);
      EXPECT_EQ(where.listens_on_own_network(), !local);
      // A persona is reached at its own network's address, another component (a
      // database) at its service name.
      const Component& api = find(*app, "api");
      const Component& port = find(*app, "api-port");
      EXPECT_EQ(where.host_of(api), local ? "127.0.0.1" : api.id().listen_name());
      EXPECT_EQ(where.host_of(port), local ? "127.0.0.1" : port.id().service_name());
      if (!local) {
        EXPECT_EQ(api.id().listen_name(), "listen." + api.id().service_name());
      }
    }
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
