// What only the PostgreSQL backend can show: durability across server restarts and
// crashes, and a clear error when the server is not there.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <atomic>
#include <functional>
#include <random>
#include <thread>

#include "../format/log_test_util.h"
#include "../support/test_postgres.h"
#include "snap/store.h"

namespace snap {
namespace {

using ::testing::HasSubstr;

class PostgresDurability : public ::testing::TestWithParam<std::string> {};

TEST_P(PostgresDurability, AcknowledgedWritesSurviveARestart) {
  // A private server: restarting the shared one would disturb other tests.
  testing::TestPostgres server;
  PostgresOptions pg;
  pg.connection = server.connection();
  // Both write paths: a plain store writes in autocommit statements, an indexed one in
  // transactions.
  auto plain = open_postgres_store(pg, StoreOptions{"durable", {}});
  auto indexed = open_postgres_store(
      pg, StoreOptions{"durable_indexed", {IndexSpec{"parity", 1, [](std::string_view, const json& v) {
                                                       return std::vector<IndexEntry>{
                                                           {v.as_int64() % 2 == 0 ? "even" : "odd", v}};
                                                     }}}});
  constexpr int kValues = 300;
  for (int i = 0; i < kValues; ++i) {
    plain->set("k" + std::to_string(i), json(i));
    indexed->set("k" + std::to_string(i), json(i));
  }
  plain->modify("counter", [](const std::optional<json>&) { return json(42); });
  EXPECT_TRUE(indexed->del("k0"));

  if (GetParam() == "kill") {
    server.kill_and_restart();
  } else {
    server.restart(GetParam());
  }

  // The same store objects reconnect by themselves, and the first write after the
  // restart is a normal write, not an in-doubt one.
  plain->set("after", json(true));
  indexed->set("after", json(1));
  for (int i = 0; i < kValues; ++i) {
    ASSERT_EQ(plain->get("k" + std::to_string(i)), json(i)) << "lost k" << i << " after " << GetParam();
  }
  EXPECT_EQ(plain->get("counter"), json(42));
  EXPECT_EQ(plain->keys(KeyPage{"", 1000}).size(), static_cast<std::size_t>(kValues + 2));
  EXPECT_FALSE(indexed->has("k0"));
  EXPECT_EQ(indexed->index("parity").get("even").size(), static_cast<std::size_t>(kValues / 2 - 1));
  EXPECT_EQ(indexed->index("parity").get("odd").size(), static_cast<std::size_t>(kValues / 2 + 1));
}

INSTANTIATE_TEST_SUITE_P(Modes, PostgresDurability, ::testing::Values("fast", "immediate", "kill"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(PostgresStore, ServerDownIsUnavailableAfterBoundedRetries) {
  testing::TempDir empty;
  PostgresOptions pg;
  pg.connection = "host=" + empty.path().string() + " port=5432 user=snap dbname=postgres password=hunter2";
  pg.retry.connect_attempts = 3;
  pg.retry.connect_backoff = std::chrono::milliseconds(1);
  try {
    open_postgres_store(pg, StoreOptions{"x", {}});
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("PostgreSQL unavailable after 3 connection attempts (host=" +
                                    empty.path().string() + " port=5432 dbname=postgres user=snap): "));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));  // libpq's own reason
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("hunter2")));
  }
}

TEST(PostgresStore, ServerGoneAfterOpenIsUnavailableNotInDoubt) {
  auto server = std::make_unique<testing::TestPostgres>();
  PostgresOptions pg;
  pg.connection = server->connection();
  pg.retry.connect_attempts = 3;
  pg.retry.connect_backoff = std::chrono::milliseconds(1);
  auto store = open_postgres_store(pg, StoreOptions{"gone", {}});
  store->set("k", json(1));
  // connection() is "host=SOCKET_DIR port=... user=... dbname=...".
  const std::string host = pg.connection.substr(0, pg.connection.find(' '));
  const std::string target = host + " port=5432 dbname=postgres user=snap";
  server.reset();  // stopped and removed: its socket is gone
  for (auto call : std::vector<std::function<void()>>{[&] { store->get("k"); }, [&] { store->set("k", json(2)); },
                                                        [&] { store->modify("k", [](const std::optional<json>&) {
                                                          return json(3);
                                                        }); }}) {
    try {
      call();
      FAIL() << "expected StoreError";
    } catch (const StoreError& e) {
      // The idle connection is found closed before anything is sent, so even an
      // autocommit write knows it did not happen.
      EXPECT_EQ(e.code(), StoreError::Code::kUnavailable) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("PostgreSQL unavailable after 3 connection attempts (" + target + ")"));
    }
  }
}

TEST(PostgresStore, ConcurrentOpensOfOneStoreAgree) {
  // Personas starting together: schema creation and index rebuild must not race.
  PostgresOptions pg;
  pg.connection = testing::TestPostgres::shared().connection();
  pg.pool_size = 1;
  const std::string name = "concurrent_open_" + std::to_string(std::random_device{}() % 100000);
  IndexSpec spec{"by-value", 1, [](std::string_view, const json& v) {
                   return std::vector<IndexEntry>{{std::string(v.as_string()), nullptr}};
                 }};
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto store = open_postgres_store(pg, StoreOptions{name, {spec}});
        store->set("k" + std::to_string(t), json("v"));
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto store = open_postgres_store(pg, StoreOptions{name, {spec}});
  EXPECT_EQ(store->index("by-value").get("v").size(), 6u);
}

TEST(PostgresStore, AMissingIndexTableIsRefilledWhateverTheVersionSays) {
  PostgresOptions pg;
  pg.connection = testing::TestPostgres::shared().connection();
  const std::string name = "refill_" + std::to_string(std::random_device{}() % 100000);
  const StoreOptions options{name, {{"echo", 1, [](std::string_view, const json& v) {
                                       return std::vector<IndexEntry>{{std::string(v.as_string()), nullptr}};
                                     }}}};
  open_postgres_store(pg, options)->set("k", json("v"));
  {
    pqxx::connection c(pg.connection);
    pqxx::work tx(c);
    const pqxx::result tables = tx.exec_params("SELECT tablename FROM pg_tables WHERE tablename LIKE $1", name + "__echo_%");
    ASSERT_EQ(tables.size(), 1u);
    for (const auto& row : tables) {
      tx.exec("DROP TABLE \"" + std::string(row[0].c_str()) + "\"");
    }
    tx.commit();
  }
  auto store = open_postgres_store(pg, options);  // same version 1
  EXPECT_EQ(store->index("echo").get("v"), (std::vector<IndexMatch>{{"k", nullptr}}));
}

TEST(PostgresStore, TablesAreCreatedIdempotentlyWithSafeNames) {
  PostgresOptions pg;
  pg.connection = testing::TestPostgres::shared().connection();
  const StoreOptions options{"My-App.Orders (v2)", {{"by-x", 1, [](std::string_view k, const json&) {
                                                       return std::vector<IndexEntry>{{std::string(k), nullptr}};
                                                     }}}};
  auto first = open_postgres_store(pg, options);
  first->set("k", json(1));
  auto second = open_postgres_store(pg, options);  // same tables, no error
  EXPECT_EQ(second->get("k"), json(1));
  EXPECT_EQ(second->index("by-x").get("k").size(), 1u);
}

}  // namespace
}  // namespace snap
