// Builds with different indexes writing one PostgreSQL store, as a rolling upgrade and a
// rollback make them: whatever each build writes, the next open of a build with an index
// leaves that index exactly what its indexer makes of the data -- nothing missing,
// nothing extra (docs/store.md, "Builds with different indexes").
#include <boost/describe.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <iterator>
#include <atomic>
#include <random>
#include <thread>
#include <tuple>

#include "../../components/store/src/store_backend.h"
#include "../support/test_postgres.h"
#include "snap/store.h"

namespace shop {
struct Located {
  std::string customer;
  std::string city;
  int total = 0;
};
BOOST_DESCRIBE_STRUCT(Located, (), (customer, city, total))
}  // namespace shop

namespace snap {
namespace {

using ::testing::HasSubstr;
using Entry = std::tuple<std::string, std::string, int, json>;  // index key, key, seq, inline

// Primary key order: (index key, key, seq) is unique.
bool key_less(const Entry& a, const Entry& b) {
  return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
         std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
}

json order(const std::string& customer, const std::string& city, int total = 1) {
  return json{{"customer", customer}, {"city", city}, {"total", total}};
}

IndexSpec by_customer() {
  return IndexSpec{"by-customer", 1, [](std::string_view, const json& v) {
                     return std::vector<IndexEntry>{{std::string(v.at("customer").as_string()), v.at("total")}};
                   }};
}

// Version 1 indexes the city; version 2, the city and the total. Typed: a value without
// a city is refused.
IndexSpec by_city(int version = 1) {
  return typed_index<shop::Located>("by-city", version, [version](std::string_view, const shop::Located& o) {
    std::string city = o.city;
    if (version == 2) city += "/" + std::to_string(o.total);
    return std::vector<IndexEntry>{{city, json(o.customer)}};
  });
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const std::string run = std::to_string(std::random_device{}() % 100000);
  return prefix + "_" + run + "_" + std::to_string(counter++);
}

class PostgresIndexSets : public ::testing::Test {
 protected:
  std::unique_ptr<JsonStore> open(std::vector<IndexSpec> indexes) {
    PostgresOptions pg;
    pg.connection = server().connection();
    return open_postgres_store(pg, StoreOptions{name_, std::move(indexes)});
  }

  // Every entry of `spec`'s index table, and what `spec`'s indexer makes of the stored
  // data: equal when the index is exactly right.
  std::vector<Entry> stored_entries(const IndexSpec& spec) {
    pqxx::connection c(server().connection());
    pqxx::nontransaction tx(c);
    std::vector<Entry> out;
    const std::string table = index_table_name(safe_identifier(name_), spec.name);
    for (const auto& row : tx.exec("SELECT index_key, key, seq, inline::text FROM \"" + table + "\"")) {
      out.emplace_back(row[0].c_str(), row[1].c_str(), row[2].as<int>(), boost::json::parse(row[3].c_str()));
    }
    std::sort(out.begin(), out.end(), key_less);
    return out;
  }
  std::vector<Entry> expected_entries(const IndexSpec& spec) {
    pqxx::connection c(server().connection());
    pqxx::nontransaction tx(c);
    std::vector<Entry> out;
    for (const auto& row : tx.exec("SELECT key, value::text FROM \"" + safe_identifier(name_) + "\"")) {
      int seq = 0;
      for (IndexEntry& e : spec.indexer(row[0].c_str(), boost::json::parse(row[1].c_str()))) {
        out.emplace_back(std::move(e.index_key), row[0].c_str(), seq++, std::move(e.inline_value));
      }
    }
    std::sort(out.begin(), out.end(), key_less);
    return out;
  }
  void expect_exact(const IndexSpec& spec) {
    const auto expected = expected_entries(spec);
    const auto stored = stored_entries(spec);
    EXPECT_FALSE(expected.empty());
    std::vector<Entry> missing, extra;
    std::set_difference(expected.begin(), expected.end(), stored.begin(), stored.end(), std::back_inserter(missing),
                        key_less);
    std::set_difference(stored.begin(), stored.end(), expected.begin(), expected.end(), std::back_inserter(extra),
                        key_less);
    const std::string index = spec.name + "@" + std::to_string(spec.version);
    EXPECT_THAT(missing, ::testing::IsEmpty()) << "index " << index;
    EXPECT_THAT(extra, ::testing::IsEmpty()) << "index " << index;
    EXPECT_EQ(stored, expected) << "index " << index << ": same entries, other inline values";
  }

  std::vector<std::string> keys_under(JsonStore& store, const std::string& index, const std::string& index_key) {
    std::vector<std::string> out;
    for (const IndexMatch& m : store.index(index).get(index_key)) out.push_back(m.key);
    return out;
  }

  long long sql_count(const std::string& query) {
    pqxx::connection c(server().connection());
    pqxx::nontransaction tx(c);
    return tx.exec(query)[0][0].as<long long>();
  }

  // Each test runs in a process of its own (gtest_discover_tests), so the shared server is
  // this test's: one may reshape the shared tables as an older build left them.
  static testing::TestPostgres& server() { return testing::TestPostgres::shared(); }

  std::string name_ = unique_name("index_sets");
};

// What another build (v2: without by-city, or with another version of it) writes: new keys, overwrites that
// move a key to another city, a modify, an update that deletes, a del, an insert, and an
// overwrite that keeps the city.
void write_as_another_build(JsonStore& v2) {
  for (int i = 30; i < 40; ++i) v2.set("k" + std::to_string(i), order("carol", "oslo", i));
  v2.set("k1", order("alice", "rome"));
  v2.modify("k2", [](const std::optional<json>&) { return order("bob", "lima"); });
  v2.update("k3", [](const std::optional<json>&) -> std::optional<json> { return std::nullopt; });
  EXPECT_TRUE(v2.del("k4"));
  v2.insert("k40", order("dave", "paris"));
  v2.set("k5", order("erin", "paris", 7));
}

TEST_F(PostgresIndexSets, ARollbackThatWritesLeavesNoIndexWrongAfterTheRollForward) {
  {
    auto v3 = open({by_customer(), by_city()});
    for (int i = 0; i < 30; ++i) v3->set("k" + std::to_string(i), order(i % 2 ? "alice" : "bob", "paris", i));
  }
  {
    auto v2 = open({by_customer()});
    write_as_another_build(*v2);
  }
  // The deletes took their by-city entries with them, though v2 knows no by-city.
  EXPECT_EQ(sql_count("SELECT count(*) FROM \"" + index_table_name(safe_identifier(name_), "by-city") +
                      "\" WHERE key IN ('k3', 'k4')"),
            0);
  auto v3 = open({by_customer(), by_city()});
  expect_exact(by_city());
  expect_exact(by_customer());
  EXPECT_THAT(keys_under(*v3, "by-city", "rome"), ::testing::ElementsAre("k1"));
  EXPECT_THAT(keys_under(*v3, "by-city", "lima"), ::testing::ElementsAre("k2"));
  EXPECT_EQ(keys_under(*v3, "by-city", "oslo").size(), 10u);
  // Repaired rows carry v3's tag now: the next open finds nothing to do.
  EXPECT_EQ(sql_count("SELECT count(DISTINCT writer) FROM \"" + safe_identifier(name_) + "\""), 1);
}

TEST_F(PostgresIndexSets, ABuildWithAnotherVersionOfAnIndexIsRepairedAfterToo) {
  auto v3 = open({by_customer(), by_city(2)});
  for (int i = 0; i < 30; ++i) v3->set("k" + std::to_string(i), order("alice", "paris", i));
  // The rollback rebuilds by-city to version 1 and keeps running after the roll forward
  // has rebuilt it to version 2: its writes then put version-1 entries in a version-2
  // index, and no version changes for the next open to notice.
  auto v2 = open({by_customer(), by_city(1)});
  expect_exact(by_city(1));
  open({by_customer(), by_city(2)});
  write_as_another_build(*v2);
  EXPECT_THAT(keys_under(*v3, "by-city", "rome"), ::testing::ElementsAre("k1"));  // v2's entry: stale
  open({by_customer(), by_city(2)});
  expect_exact(by_city(2));
  expect_exact(by_customer());
  EXPECT_TRUE(keys_under(*v3, "by-city", "rome").empty());
  EXPECT_THAT(keys_under(*v3, "by-city", "rome/1"), ::testing::ElementsAre("k1"));
}

TEST_F(PostgresIndexSets, AWriteWhileABuildWithTheIndexIsOpenIsRepairedByItsNextOpen) {
  auto v3 = open({by_customer(), by_city()});
  for (int i = 0; i < 30; ++i) v3->set("k" + std::to_string(i), order("alice", "paris", i));
  auto v2 = open({by_customer()});
  write_as_another_build(*v2);
  // Until a build with by-city opens again, it misses what v2 wrote (documented) ...
  EXPECT_TRUE(keys_under(*v3, "by-city", "oslo").empty());
  // ... and the open repairs it for every process of that build, the running ones too.
  open({by_customer(), by_city()});
  expect_exact(by_city());
  EXPECT_EQ(keys_under(*v3, "by-city", "oslo").size(), 10u);
  // v3's own writes meanwhile were right all along and are left alone; v2's next ones are
  // repaired by the next open again.
  v2->set("k6", order("alice", "kyiv"));
  v3->set("k7", order("alice", "cairo"));
  EXPECT_THAT(keys_under(*v3, "by-city", "cairo"), ::testing::ElementsAre("k7"));
  open({by_customer(), by_city()});
  expect_exact(by_city());
}

TEST_F(PostgresIndexSets, ABuildWithoutIndexesTagsItsWritesToo) {
  auto v3 = open({by_customer(), by_city()});
  for (int i = 0; i < 10; ++i) v3->set("k" + std::to_string(i), order("alice", "paris", i));
  {
    auto bare = open({});  // one autocommit statement per write, tagged all the same
    bare->set("k1", order("bob", "rome"));
    bare->insert("k20", order("bob", "rome"));
    EXPECT_TRUE(bare->del("k2"));
  }
  open({by_customer(), by_city()});
  expect_exact(by_city());
  expect_exact(by_customer());
}

// The old code's statements, verbatim: the shared version table, the store table and an
// index table as it created them, and its writes -- which kept only its own indexes.
void make_a_database_as_before_writer_tags(pqxx::work& tx, const std::string& table, const std::string& city_table,
                                           const std::string& customer_table) {
  tx.exec(
      "CREATE TABLE IF NOT EXISTS snap_index_versions (store text NOT NULL, index_name text NOT NULL, "
      "version integer NOT NULL, PRIMARY KEY (store, index_name))");
  tx.exec("CREATE TABLE \"" + table + "\" (key text COLLATE \"C\" PRIMARY KEY, value jsonb NOT NULL)");
  for (const std::string& ix : {city_table, customer_table}) {
    tx.exec("CREATE TABLE \"" + ix +
            "\" (index_key text COLLATE \"C\" NOT NULL, key text COLLATE \"C\" NOT NULL, seq integer NOT NULL, "
            "inline jsonb NOT NULL, PRIMARY KEY (index_key, key, seq))");
    tx.exec("CREATE INDEX \"" + safe_identifier(ix + "_by_key") + "\" ON \"" + ix + "\" (key)");
  }
  tx.exec_params("INSERT INTO snap_index_versions VALUES ($1, 'by-city', 1), ($1, 'by-customer', 1)", table);
  auto set = [&](const std::string& key, const json& value, bool with_city) {
    tx.exec_params("INSERT INTO \"" + table +
                       "\" (key, value) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                   key, boost::json::serialize(value));
    tx.exec_params("DELETE FROM \"" + customer_table + "\" WHERE key = $1", key);
    tx.exec_params("INSERT INTO \"" + customer_table + "\" VALUES ($1, $2, 0, $3::jsonb)",
                   std::string(value.at("customer").as_string()), key, boost::json::serialize(value.at("total")));
    if (!with_city) return;
    tx.exec_params("DELETE FROM \"" + city_table + "\" WHERE key = $1", key);
    tx.exec_params("INSERT INTO \"" + city_table + "\" VALUES ($1, $2, 0, $3::jsonb)",
                   std::string(value.at("city").as_string()), key, boost::json::serialize(value.at("customer")));
  };
  for (int i = 0; i < 10; ++i) set("k" + std::to_string(i), order("alice", "paris", i), true);
  // Then a build without by-city: a changed city, a new key, a delete.
  set("k1", order("alice", "rome"), false);
  set("k10", order("bob", "oslo"), false);
  tx.exec("DELETE FROM \"" + table + "\" WHERE key = 'k2'");
  tx.exec("DELETE FROM \"" + customer_table + "\" WHERE key = 'k2'");
}

TEST_F(PostgresIndexSets, ADatabaseFromBeforeWriterTagsIsRepairedByItsFirstOpen) {
  const std::string table = safe_identifier(name_);
  {
    pqxx::connection c(server().connection());
    pqxx::work tx(c);
    make_a_database_as_before_writer_tags(tx, table, index_table_name(table, "by-city"),
                                          index_table_name(table, "by-customer"));
    tx.commit();
  }
  ASSERT_EQ(sql_count("SELECT count(*) FROM \"" + index_table_name(table, "by-city") + "\" WHERE key = 'k2'"), 1);
  // The first open is one without by-city: it adds the tags and the delete trigger and
  // removes the entries the old delete left; it has nothing to repair itself.
  open({by_customer()})->set("k3", order("alice", "lima"));
  EXPECT_EQ(sql_count("SELECT count(*) FROM \"" + index_table_name(table, "by-city") + "\" WHERE key = 'k2'"), 0);
  auto v3 = open({by_customer(), by_city()});
  expect_exact(by_city());
  expect_exact(by_customer());
  EXPECT_THAT(keys_under(*v3, "by-city", "lima"), ::testing::ElementsAre("k3"));
  EXPECT_EQ(sql_count("SELECT count(*) FROM \"" + table + "\" WHERE writer = 0"), 0);
  EXPECT_EQ(sql_count("SELECT count(*) FROM snap_store_writers WHERE store = '" + table + "'"), 2);
}

TEST_F(PostgresIndexSets, BuildsUpgradingADatabaseFromBeforeWriterTagsTogetherAgree) {
  const std::string table = safe_identifier(name_);
  {
    pqxx::connection c(server().connection());
    pqxx::work tx(c);
    make_a_database_as_before_writer_tags(tx, table, index_table_name(table, "by-city"),
                                          index_table_name(table, "by-customer"));
    tx.commit();
  }
  // Every process of three builds starts at once: the shared table and the store table
  // are altered once, and each open goes through.
  const std::vector<std::vector<IndexSpec>> builds = {{by_customer(), by_city()}, {by_customer()}, {}};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      try {
        open(builds[static_cast<std::size_t>(t) % builds.size()])->set("t" + std::to_string(t), order("zoe", "bern"));
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  open({by_customer(), by_city()});
  expect_exact(by_city());
  expect_exact(by_customer());
}

TEST_F(PostgresIndexSets, ARowTheIndexerRefusesFailsTheOpenThatRepairsItAndChangesNothing) {
  open({by_customer(), by_city()})->set("k1", order("alice", "paris"));
  auto v2 = open({by_customer()});
  v2->set("k2", json{{"customer", "bob"}, {"total", 2}});  // no city: by-city throws
  v2->set("k1", order("alice", "rome"));
  try {
    open({by_customer(), by_city()});
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    // The indexer's own error, naming the index and the key, as when a rebuild fails.
    EXPECT_EQ(e.code(), StoreError::Code::kConversion);
    EXPECT_THAT(e.what(), HasSubstr("index \"by-city\": the value at key \"k2\" is not a valid shop::Located"));
  }
  // Nothing was repaired or re-tagged: k1 still waits, under its old city.
  const std::string city_table = index_table_name(safe_identifier(name_), "by-city");
  EXPECT_EQ(sql_count("SELECT count(*) FROM \"" + city_table + "\" WHERE key = 'k1' AND index_key = 'paris'"), 1);
  // Once the data is fixed, the open goes through and repairs both.
  v2->set("k2", order("bob", "oslo"));
  open({by_customer(), by_city()});
  expect_exact(by_city());
}

TEST_F(PostgresIndexSets, ADeleteSkipsAnIndexTableDroppedByHand) {
  auto v3 = open({by_customer(), by_city()});
  v3->set("k1", order("alice", "paris"));
  v3->set("k2", order("alice", "paris"));
  {
    pqxx::connection c(server().connection());
    pqxx::nontransaction tx(c);
    tx.exec("DROP TABLE \"" + index_table_name(safe_identifier(name_), "by-city") + "\"");
  }
  auto v2 = open({by_customer()});
  EXPECT_TRUE(v2->del("k1"));
  EXPECT_FALSE(v2->has("k1"));
  open({by_customer(), by_city()});  // refilled, as before
  expect_exact(by_city());
  expect_exact(by_customer());
}

TEST_F(PostgresIndexSets, AWriteUnderWayWhenARebuildStartsKeepsNoOldEntries) {
  const IndexSpec v1 = by_city(1);
  auto x = open({by_customer(), v1});
  x->set("k1", order("alice", "paris"));
  const std::string table = safe_identifier(name_);
  const std::string city_table = index_table_name(table, "by-city");
  pqxx::connection c(server().connection());
  const int id = pqxx::nontransaction(c)
                     .exec_params("SELECT id FROM snap_store_writers WHERE store = $1 AND indexes = "
                                  "ARRAY['by-city@1', 'by-customer@1']",
                                  table)[0][0]
                     .as<int>();
  // Enough rows for a rebuild to take a while (a second or so); written by SQL, as x
  // would have, but without their by-customer entries, which this test does not check.
  pqxx::nontransaction(c).exec_params(
      "INSERT INTO \"" + table +
          "\" (key, value, writer) SELECT 'f' || g, jsonb_build_object('customer', 'f', 'city', 'paris', 'total', g), "
          "$1 FROM generate_series(1, 20000) AS g",
      id);
  open({by_customer(), by_city(2)});  // by-city rebuilt to version 2 ...
  x->set("k1", order("alice", "lima"));
  // ... while a process of x writes k1 again, as its set does (the item first, then its
  // entries), and another process of x opens, rebuilding by-city back to version 1.
  pqxx::work w(c);
  w.exec_params("INSERT INTO \"" + table + "\" (key, value, writer) VALUES ('k1', $1::jsonb, $2) ON CONFLICT (key) "
                "DO UPDATE SET value = EXCLUDED.value, writer = EXCLUDED.writer",
                boost::json::serialize(order("alice", "rome")), id);
  std::thread opener([&] { open({by_customer(), v1}); });
  // Half a second for the rebuild to get under way. Without its lock on the table it would
  // read k1's old value and keep that entry, which this delete -- waiting on the
  // rebuild's own -- would not see.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  w.exec("DELETE FROM \"" + city_table + "\" WHERE key = 'k1'");
  w.exec("INSERT INTO \"" + city_table + "\" VALUES ('rome', 'k1', 0, '\"alice\"')");
  w.commit();
  opener.join();
  open({by_customer(), v1});  // k1 carries x's own tag: nothing to repair
  expect_exact(v1);
}

TEST_F(PostgresIndexSets, BuildsOpeningAndWritingTogetherNeitherDeadlockNorFail) {
  // Builds with by-city at version 1, at version 2 and without it open the store over and
  // over -- rebuilding by-city back and forth and repairing -- while a process of each
  // writes. Nothing may fail, and the index must come out exact.
  const std::vector<std::vector<IndexSpec>> builds = {
      {by_customer(), by_city(1)}, {by_customer(), by_city(2)}, {by_customer()}};
  std::vector<std::unique_ptr<JsonStore>> writers;
  for (const auto& b : builds) writers.push_back(open(b));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> writes{0};
  auto fail = [&](const std::exception& e) {
    ADD_FAILURE() << e.what();
    ++failures;
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < writers.size(); ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 random(static_cast<unsigned>(w));
      const char* cities[] = {"paris", "rome", "oslo"};
      try {
        while (!stop) {
          const std::string key = "k" + std::to_string(random() % 40);
          const json value = order("alice", cities[random() % 3], static_cast<int>(random() % 5));
          switch (random() % 4) {
            case 0: writers[w]->del(key); break;
            case 1: writers[w]->modify(key, [&](const std::optional<json>&) { return value; }); break;
            default: writers[w]->set(key, value);
          }
          ++writes;
        }
      } catch (const std::exception& e) {
        fail(e);
      }
    });
  }
  std::vector<std::thread> openers;
  for (int t = 0; t < 3; ++t) {
    openers.emplace_back([&, t] {
      try {
        for (int round = 0; round < 4; ++round) open(builds[static_cast<std::size_t>(t + round) % builds.size()]);
      } catch (const std::exception& e) {
        fail(e);
      }
    });
  }
  for (auto& t : openers) t.join();
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(writes.load(), 0);
  open({by_customer(), by_city(2)});
  expect_exact(by_city(2));
  expect_exact(by_customer());
}

}  // namespace
}  // namespace snap
