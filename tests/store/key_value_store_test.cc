// KeyValueStore as a component: its table comes from its Id, its indexes are in the
// manifest, dev mode keeps it in memory, and run mode finds its database (snap::Postgres)
// from the replayed build state and the database's password secret; $SNAP_POSTGRES only
// for a store without a database in a --local build.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "../format/log_test_util.h"
#include "../support/captured_stderr.h"
#include "../support/fake_system.h"
#include "../support/test_postgres.h"
#include "snap/app.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/postgres.h"
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

TEST(KeyValueStore, ALocalBuildFindsAStoreWithoutADatabaseThroughSnapPostgres) {
  testing::TempDir out;
  testing::FakeSystem build_system;
  KeyValueStore* customers = nullptr;
  build_app("shop", shop(&customers), build_system, BuildOptions{out.path(), {}, Placement::kLocal});

  testing::FakeSystem run_system(2);
  auto secrets = secrets_from_map({});
  auto app = replay_app("shop", shop(&customers), run_system,
                        ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  try {
    customers->open(context(*app, "api"));
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("store shop.customers has no database: declare one"));
    EXPECT_THAT(e.what(), HasSubstr("in a --local build, set SNAP_POSTGRES"));
  }

  run_system.variables["SNAP_POSTGRES"] = testing::TestPostgres::shared().connection();
  auto again = replay_app("shop", shop(&customers), run_system,
                          ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  const PersonaContext api = context(*again, "api");
  customers->open(api).set("c1", json{{"city", "Oslo"}});
  EXPECT_EQ(customers->open(api).get("c1"), (json{{"city", "Oslo"}}));
  EXPECT_EQ(customers->open(api).index("by-city").get("Oslo").front().key, "c1");
}

TEST(KeyValueStore, AContainerBuildIgnoresSnapPostgresForAStoreWithoutADatabase) {
  testing::TempDir out;
  testing::FakeSystem system;
  KeyValueStore* customers = nullptr;
  build_app("shop", shop(&customers), system, BuildOptions{out.path(), {}});
  system.variables["SNAP_POSTGRES"] = testing::TestPostgres::shared().connection();
  auto secrets = secrets_from_map({});
  auto app = replay_app("shop", shop(&customers), system, ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  try {
    customers->open(context(*app, "api"));
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("store shop.customers has no database"));
  }
}

// A database, two stores sharing it, a persona using one store, one using nothing.
struct Shop {
  Postgres* db = nullptr;
  KeyValueStore* customers = nullptr;
  KeyValueStore* orders = nullptr;
};
DefineApp shop_with_database(Shop* out) {
  return [out](App& app) {
    out->db = &app.add<Postgres>("db", PostgresConfig{"shop-user", "shop-db"});
    out->customers = &app.add<KeyValueStore>("customers", *out->db, std::vector<IndexSpec>{by_city()});
    out->orders = &app.add<KeyValueStore>("orders", *out->db);
    app.add<Persona>("api", PersonaKind::kDaemon, [](PersonaContext&) { return 0; }).uses(*out->customers);
    app.add<Persona>("mailer", PersonaKind::kDaemon, [](PersonaContext&) { return 0; });
  };
}

TEST(KeyValueStore, ADatabaseRecordsWhatItsServiceNeedsAndNothingSecret) {
  testing::FakeSystem system;
  Shop shop;
  auto app = start_dev_app("shop", shop_with_database(&shop), system, {});
  EXPECT_EQ(boost::json::serialize(shop.db->config()),
            R"({"user":"shop-user","database":"shop-db","port":5432,"password_secret":"db.password","service":"db"})");
  EXPECT_EQ(shop.db->password().secret_name(), "db.password");
  const auto manifest = app->manifest();
  const auto store = std::find_if(manifest.components.begin(), manifest.components.end(),
                                  [](const ComponentEntry& e) { return e.id == "shop.customers"; });
  ASSERT_NE(store, manifest.components.end());
  EXPECT_EQ(store->uses, (std::vector<std::string>{"shop.db"}));
  EXPECT_EQ(app->secrets_for(*app->find_persona("api")), (std::vector<std::string>{"db.password"}));
  EXPECT_TRUE(app->secrets_for(*app->find_persona("mailer")).empty());
}

TEST(KeyValueStore, AStoreInADatabaseConnectsToItsServiceWithItsSecret) {
  testing::TempDir out;
  testing::FakeSystem system;
  Shop shop;
  build_app("shop", shop_with_database(&shop), system, BuildOptions{out.path(), {}});
  system.variables["SNAP_POSTGRES"] = "host=elsewhere";  // not for a container build
  auto secrets = secrets_from_map({{"db.password", "pa'ss"}});
  auto app = replay_app("shop", shop_with_database(&shop), system,
                        ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  EXPECT_EQ(shop.db->host(), "db");
  EXPECT_EQ(shop.db->connection(context(*app, "api")),
            R"(host='db' port=5432 user='shop-user' dbname='shop-db' password='pa\'ss')");
  try {
    shop.db->connection(context(*app, "mailer"));
    FAIL();
  } catch (const UsesError& e) {
    EXPECT_THAT(e.what(), HasSubstr("persona mailer (shop.mailer) does not use shop.db (Postgres)"));
  }
}

TEST(KeyValueStore, ALocalBuildReachesItsDatabaseOnThisHostUnlessSnapPostgresSaysOtherwise) {
  testing::TempDir out;
  testing::FakeSystem system;
  Shop shop;
  build_app("shop", shop_with_database(&shop), system, BuildOptions{out.path(), {}, Placement::kLocal});
  auto secrets = secrets_from_map({{"db.password", "pw"}});
  auto app = replay_app("shop", shop_with_database(&shop), system,
                        ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  EXPECT_EQ(shop.db->connection(context(*app, "api")),
            "host='127.0.0.1' port=5432 user='shop-user' dbname='shop-db' password='pw'");

  // Two stores in the one database: each its own tables.
  system.variables["SNAP_POSTGRES"] = testing::TestPostgres::shared().connection();
  auto again = replay_app("shop", shop_with_database(&shop), system,
                          ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  EXPECT_EQ(shop.db->connection(context(*again, "api")), testing::TestPostgres::shared().connection());
  const PersonaContext api = context(*again, "api");
  shop.customers->open(api).set("c1", json{{"city", "Lyon"}});
  EXPECT_EQ(shop.customers->open(api).get("c1"), (json{{"city", "Lyon"}}));
  EXPECT_NE(shop.customers->table(), shop.orders->table());
}

// Opened on first use: while the database cannot be reached, each use tries again and
// fails kUnavailable, and the log says so once, not once per use.
TEST(KeyValueStore, AStoreThatCannotBeOpenedIsLoggedOnceAndOpensWhenItCan) {
  testing::TempDir out;
  testing::FakeSystem system;
  KeyValueStore* customers = nullptr;
  build_app("shop", shop(&customers), system, BuildOptions{out.path(), {}, Placement::kLocal});
  auto app = replay_app("shop", shop(&customers), system, ReplayOptions{out / "snapshot.snaplog", Mode::kRun, nullptr});
  const PersonaContext api = context(*app, "api");
  system.variables["SNAP_POSTGRES"] = "host=/nonexistent-socket-dir port=5432 dbname=x user=x";
  testing::CapturedStderr err;
  for (int i = 0; i < 3; ++i) {
    try {
      customers->open(api);
      FAIL();
    } catch (const StoreError& e) {
      EXPECT_EQ(e.code(), StoreError::Code::kUnavailable);
      EXPECT_THAT(e.what(),
                  HasSubstr("PostgreSQL unavailable after 5 connection attempts (host=/nonexistent-socket-dir"));
    }
  }
  auto lines = err.lines("snap: store shop.customers ");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("snap: store shop.customers cannot be opened; calls fail with kUnavailable until it "
                                  "can: PostgreSQL unavailable after 5 connection attempts"));
  system.variables["SNAP_POSTGRES"] = testing::TestPostgres::shared().connection();
  customers->open(api).set("c1", json{{"city", "Lyon"}});
  EXPECT_EQ(customers->open(api).get("c1"), (json{{"city", "Lyon"}}));
  EXPECT_THAT(err.lines("snap: store shop.customers "),
              ::testing::ElementsAre(lines[0], "snap: store shop.customers is open"));
}

TEST(KeyValueStore, ADatabaseWithoutItsPasswordIsSecretUnavailable) {
  testing::TempDir out;
  testing::FakeSystem system;
  Shop shop;
  build_app("shop", shop_with_database(&shop), system, BuildOptions{out.path(), {}});
  auto secrets = secrets_from_map({});
  auto app = replay_app("shop", shop_with_database(&shop), system,
                        ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  try {
    shop.customers->open(context(*app, "api"));
    FAIL();
  } catch (const SecretUnavailable& e) {
    EXPECT_THAT(e.what(), HasSubstr("secret \"db.password\" of shop.db.password has no value for persona api"));
  }
}

TEST(KeyValueStore, ADatabaseNeedsAUserAndADatabaseName) {
  testing::FakeSystem system;
  try {
    start_dev_app("shop", [](App& app) { app.add<Postgres>("db", PostgresConfig{"", "x"}); }, system, {});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("Postgres shop.db: user and database must not be empty"));
  }
}

}  // namespace
}  // namespace snap
