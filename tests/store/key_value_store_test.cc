// KeyValueStore as a component: its table comes from its Id, its indexes are in the
// manifest, dev mode keeps it in memory, and run mode finds PostgreSQL through
// $SNAP_POSTGRES. Startup may not touch it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../format/log_test_util.h"
#include "../support/fake_system.h"
#include "../support/test_postgres.h"
#include "snap/app.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/persona.h"
#include "snap/secrets.h"

namespace snap {
namespace {

using ::testing::HasSubstr;

IndexSpec by_city() {
  return IndexSpec{"by-city", 3, [](std::string_view, const json& v) {
                     return std::vector<IndexEntry>{{std::string(v.at("city").as_string()), nullptr}};
                   }};
}

// A store, a persona that uses it, and one that does not.
DefineApp shop(KeyValueStore** out) {
  return [out](App& app) {
    *out = &app.add<KeyValueStore>("customers", std::vector<IndexSpec>{by_city()});
    app.add<Persona>("api", PersonaKind::kDaemon, [](PersonaContext&) { return 0; }).uses(**out);
    app.add<Persona>("mailer", PersonaKind::kDaemon, [](PersonaContext&) { return 0; });
  };
}

PersonaContext context(App& app, std::string_view persona) { return PersonaContext(app, *app.find_persona(persona), {}); }

TEST(KeyValueStore, ManifestCarriesTableAndIndexVersions) {
  testing::FakeSystem system;
  KeyValueStore* customers = nullptr;
  auto app = start_dev_app("shop", shop(&customers), system, {});
  const auto manifest = app->manifest();
  ASSERT_EQ(manifest.components.size(), 4u);
  EXPECT_EQ(manifest.components[1].type, "KeyValueStore");
  EXPECT_EQ(manifest.components[1].config,
            R"({"table":")" + customers->table() + R"(","indexes":{"by-city":3}})");
  EXPECT_THAT(customers->table(), ::testing::StartsWith("shop_customers_"));
}

TEST(KeyValueStore, DevModeKeepsItInMemory) {
  testing::FakeSystem system;
  KeyValueStore* customers = nullptr;
  auto app = start_dev_app("shop", shop(&customers), system, {});
  const PersonaContext api = context(*app, "api");
  customers->open(api).set("c1", json{{"city", "Lyon"}});
  EXPECT_EQ(customers->open(api).index("by-city").get("Lyon").size(), 1u);
}

TEST(KeyValueStore, APersonaThatDoesNotUseItIsRefusedInDevAndRunAlike) {
  testing::TempDir out;
  testing::FakeSystem system;
  KeyValueStore* customers = nullptr;
  auto expect_refused = [&](App& app) {
    try {
      customers->open(context(app, "mailer"));
      FAIL();
    } catch (const UsesError& e) {
      EXPECT_THAT(e.what(), HasSubstr("persona mailer (shop.mailer) does not use shop.customers (KeyValueStore)"));
      EXPECT_THAT(e.what(), HasSubstr(".uses(customers)"));
    }
  };
  auto dev = start_dev_app("shop", shop(&customers), system, {});
  expect_refused(*dev);
  build_app("shop", shop(&customers), system, BuildOptions{out.path(), {}});
  auto secrets = secrets_from_map({});
  auto run = replay_app("shop", shop(&customers), system, ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  expect_refused(*run);
}

TEST(KeyValueStore, RunModeUsesPostgresFromTheEnvironment) {
  testing::TempDir out;
  testing::FakeSystem build_system;
  KeyValueStore* customers = nullptr;
  build_app("shop", shop(&customers), build_system, BuildOptions{out.path(), {}});

  testing::FakeSystem run_system(2);
  auto secrets = secrets_from_map({});
  auto app = replay_app("shop", shop(&customers), run_system,
                        ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  try {
    customers->open(context(*app, "api"));
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("set SNAP_POSTGRES"));
  }

  run_system.variables["SNAP_POSTGRES"] = testing::TestPostgres::shared().connection();
  auto again = replay_app("shop", shop(&customers), run_system,
                          ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  const PersonaContext api = context(*again, "api");
  customers->open(api).set("c1", json{{"city", "Oslo"}});
  EXPECT_EQ(customers->open(api).get("c1"), (json{{"city", "Oslo"}}));
  EXPECT_EQ(customers->open(api).index("by-city").get("Oslo").front().key, "c1");
}

}  // namespace
}  // namespace snap
