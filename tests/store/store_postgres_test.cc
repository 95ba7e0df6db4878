// What only the PostgreSQL backend can show: durability across server restarts and
// crashes, and a clear error when the server is not there.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  auto store = open_postgres_store(pg, StoreOptions{"durable", {}});
  constexpr int kValues = 300;
  for (int i = 0; i < kValues; ++i) store->set("k" + std::to_string(i), json(i));
  store->modify("counter", [](const std::optional<json>&) { return json(42); });

  if (GetParam() == "kill") {
    server.kill_and_restart();
  } else {
    server.restart(GetParam());
  }

  // The same store object reconnects by itself.
  for (int i = 0; i < kValues; ++i) {
    ASSERT_EQ(store->get("k" + std::to_string(i)), json(i)) << "lost k" << i << " after " << GetParam();
  }
  EXPECT_EQ(store->get("counter"), json(42));
  store->set("after", json(true));
  EXPECT_EQ(store->keys(KeyPage{"", 1000}).size(), static_cast<std::size_t>(kValues + 2));
}

INSTANTIATE_TEST_SUITE_P(Modes, PostgresDurability, ::testing::Values("fast", "immediate", "kill"));

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
                                    empty.path().string() + " port=5432 user=snap dbname=postgres)"));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("hunter2")));
  }
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
