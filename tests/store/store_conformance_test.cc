// One behaviour contract, two backends: every test here runs unchanged against the memory
// backend and against a real PostgreSQL 15 (started privately by the test setup).
#include <boost/describe.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "../support/test_postgres.h"
#include "snap/store.h"

namespace shop {
struct Order {
  std::string customer;
  int total = 0;
  std::vector<std::string> tags;
  friend bool operator==(const Order&, const Order&) = default;
};
BOOST_DESCRIBE_STRUCT(Order, (), (customer, total, tags))
}  // namespace shop

namespace snap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using shop::Order;

// Opens stores on one backend; reopening a name sees the same data.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<JsonStore> open(const StoreOptions& options) = 0;
};

class MemoryBackendFactory final : public Backend {
 public:
  std::unique_ptr<JsonStore> open(const StoreOptions& options) override { return open_memory_store(options, db_); }

 private:
  std::shared_ptr<MemoryDatabase> db_ = make_memory_database();
};

class PostgresBackendFactory final : public Backend {
 public:
  std::unique_ptr<JsonStore> open(const StoreOptions& options) override {
    PostgresOptions pg;
    pg.connection = testing::TestPostgres::shared().connection();
    return open_postgres_store(pg, options);
  }
};

struct BackendParam {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};

std::string unique_store_name() {
  // Tables outlive a test in the shared server: every test gets fresh names.
  static std::atomic<int> counter{0};
  static const std::string run = std::to_string(std::random_device{}() % 100000);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->name()).substr(0, 20) + "_" + run + "_" + std::to_string(counter++);
}

class StoreConformance : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    name_ = unique_store_name();
  }
  std::unique_ptr<JsonStore> open(std::vector<IndexSpec> indexes = {}) {
    return backend_->open(StoreOptions{name_, std::move(indexes)});
  }

  std::unique_ptr<Backend> backend_;
  std::string name_;
};

IndexSpec by_customer(int version = 1) {
  return IndexSpec{"by-customer", version, [](std::string_view, const json& v) {
                     return std::vector<IndexEntry>{
                         {std::string(v.at("customer").as_string()), v.at("total")}};
                   }};
}

IndexSpec by_tag() {
  return IndexSpec{"by-tag", 1, [](std::string_view, const json& v) {
                     std::vector<IndexEntry> out;
                     for (const auto& t : v.at("tags").as_array()) out.push_back({std::string(t.as_string()), t});
                     return out;
                   }};
}

json order(const char* customer, int total, std::vector<std::string> tags = {}) {
  return boost::json::value_from(Order{customer, total, std::move(tags)});
}

TEST_P(StoreConformance, AbsentKeysAreEmptyNotErrors) {
  auto store = open();
  EXPECT_FALSE(store->get("nope").has_value());
  EXPECT_FALSE(store->has("nope"));
  EXPECT_FALSE(store->del("nope"));
  EXPECT_TRUE(store->keys().empty());
}

TEST_P(StoreConformance, SetGetOverwriteDelete) {
  auto store = open();
  store->set("a", json{{"n", 1}});
  EXPECT_EQ(store->get("a").value(), (json{{"n", 1}}));
  EXPECT_TRUE(store->has("a"));
  store->set("a", json{{"n", 2}});
  EXPECT_EQ(store->get("a").value(), (json{{"n", 2}}));
  EXPECT_TRUE(store->del("a"));
  EXPECT_FALSE(store->get("a").has_value());
  EXPECT_FALSE(store->del("a"));
}

TEST_P(StoreConformance, ValuesComeBackUnmangled) {
  auto store = open();
  const std::vector<json> values = {
      json(nullptr), json(true), json(0), json(-42), json(std::int64_t{9'007'199'254'740'993}), json(1.5),
      json("text with \"quotes\", ünïcødé and \\ backslash"), json(""), boost::json::array{},
      boost::json::parse(R"({"nested":{"list":[1,"two",3.25,null,{"deep":[]}]},"empty":{}})"),
      json(std::uint64_t{18'446'744'073'709'551'615u})};
  for (std::size_t i = 0; i < values.size(); ++i) store->set("v" + std::to_string(i), values[i]);
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(store->get("v" + std::to_string(i)).value(), values[i]) << boost::json::serialize(values[i]);
  }
}

TEST_P(StoreConformance, KeysAreByteOrderedAndPaged) {
  auto store = open();
  std::vector<std::string> keys = {"b", "B", "a", "a-b", "a_b", "a.b", "10", "9", "\xc3\xa9t\xc3\xa9", "z", "aa", "~"};
  for (const auto& k : keys) store->set(k, json(k));
  std::sort(keys.begin(), keys.end());  // std::string order: byte-wise
  EXPECT_EQ(store->keys(), keys);

  std::vector<std::string> paged;
  KeyPage page{"", 5};
  while (true) {
    auto batch = store->keys(page);
    paged.insert(paged.end(), batch.begin(), batch.end());
    if (batch.size() < page.limit) break;
    page.after = batch.back();
  }
  EXPECT_EQ(paged, keys);

  std::vector<std::string> streamed;
  store->for_each_key([&](const std::string& k) { streamed.push_back(k); return true; }, 4);
  EXPECT_EQ(streamed, keys);
  EXPECT_THAT(store->keys(KeyPage{"a_b", 2}), ElementsAre("aa", "b"));
}

TEST_P(StoreConformance, EmptyKeyIsInvalid) {
  auto store = open();
  try {
    store->set("", json(1));
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("empty key"));
  }
}

TEST_P(StoreConformance, IndexFollowsSetOverwriteAndDelete) {
  auto store = open({by_customer()});
  auto index = store->index("by-customer");
  store->set("o3", order("alice", 30));
  store->set("o1", order("alice", 10));
  store->set("o2", order("bob", 20));
  EXPECT_THAT(index.get("alice"), ElementsAre(IndexMatch{"o1", json(10)}, IndexMatch{"o3", json(30)}));
  EXPECT_THAT(index.get("bob"), ElementsAre(IndexMatch{"o2", json(20)}));

  store->set("o1", order("bob", 11));  // overwrite moves it
  EXPECT_THAT(index.get("alice"), ElementsAre(IndexMatch{"o3", json(30)}));
  EXPECT_THAT(index.get("bob"), ElementsAre(IndexMatch{"o1", json(11)}, IndexMatch{"o2", json(20)}));

  store->del("o2");
  EXPECT_THAT(index.get("bob"), ElementsAre(IndexMatch{"o1", json(11)}));
  EXPECT_TRUE(index.get("carol").empty());

  store->modify("o3", [](const std::optional<json>&) { return order("carol", 33); });
  EXPECT_TRUE(index.get("alice").empty());
  EXPECT_THAT(index.get("carol"), ElementsAre(IndexMatch{"o3", json(33)}));
}

TEST_P(StoreConformance, SeveralEntriesPerItemKeepTheirOrder) {
  auto store = open({by_tag()});
  store->set("b", order("x", 1, {"red", "big", "red"}));
  store->set("a", order("y", 2, {"red"}));
  auto red = store->index("by-tag").get("red");
  // By key, then in the order the indexer emitted them.
  ASSERT_EQ(red.size(), 3u);
  EXPECT_EQ(red[0].key, "a");
  EXPECT_EQ(red[1].key, "b");
  EXPECT_EQ(red[2].key, "b");
  EXPECT_THAT(store->index("by-tag").get("big"), ElementsAre(IndexMatch{"b", json("big")}));
}

TEST_P(StoreConformance, ChangedIndexVersionRebuildsTheIndex) {
  {
    auto store = open({by_customer(1)});
    store->set("o1", order("alice", 10));
    store->set("o2", order("bob", 20));
  }
  // Version 2 indexes by total instead: reopening must rebuild, not leave customer keys.
  IndexSpec by_total{"by-customer", 2, [](std::string_view, const json& v) {
                       return std::vector<IndexEntry>{{std::to_string(v.at("total").as_int64()), v.at("customer")}};
                     }};
  auto store = open({by_total});
  EXPECT_TRUE(store->index("by-customer").get("alice").empty());
  EXPECT_THAT(store->index("by-customer").get("20"), ElementsAre(IndexMatch{"o2", json("bob")}));
  // The same version again does not rebuild (and need not).
  auto again = open({by_total});
  EXPECT_THAT(again->index("by-customer").get("10"), ElementsAre(IndexMatch{"o1", json("alice")}));
}

TEST_P(StoreConformance, EmptyIndexKeyIsRefusedAndNothingIsWritten) {
  IndexSpec bad{"by-name", 1, [](std::string_view, const json& v) {
                  return std::vector<IndexEntry>{{std::string(v.at("name").as_string()), nullptr}};
                }};
  auto store = open({bad});
  try {
    store->set("k", json{{"name", ""}});
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("index \"by-name\" of store \"" + name_ +
                                    "\": the indexer returned an empty index key for key \"k\""));
  }
  EXPECT_FALSE(store->get("k").has_value());
  try {
    store->index("by-name").get("");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidArgument);
  }
  try {
    store->index("no-such-index");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("has no index \"no-such-index\""));
  }
}

TEST_P(StoreConformance, TypedStoreConvertsAndNamesKeyAndTypeOnError) {
  auto store = open();
  Store<Order> orders(*store);
  const Order o{"alice", 12, {"gift"}};
  orders.set("o1", o);
  EXPECT_EQ(orders.get("o1").value(), o);
  EXPECT_FALSE(orders.get("absent").has_value());

  store->set("broken", json{{"customer", 5}});
  try {
    orders.get("broken");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kConversion);
    EXPECT_THAT(e.what(), HasSubstr("store value at key \"broken\" is not a valid shop::Order"));
  }
  const Order bumped = orders.modify("o1", [](const std::optional<Order>& cur) {
    Order next = cur.value();
    next.total += 1;
    return next;
  });
  EXPECT_EQ(bumped.total, 13);
  EXPECT_EQ(orders.get("o1")->total, 13);
}

TEST_P(StoreConformance, ModifySeesAbsentThenCurrent) {
  auto store = open();
  auto add = [](const std::optional<json>& cur) { return json(cur ? cur->as_int64() + 5 : 1); };
  EXPECT_EQ(store->modify("n", add), json(1));
  EXPECT_EQ(store->modify("n", add), json(6));
  EXPECT_EQ(store->get("n").value(), json(6));
}

TEST_P(StoreConformance, ConcurrentModifiesLoseNoIncrement) {
  auto store = open();
  constexpr int kThreads = 8, kIncrements = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        store->modify("counter", [](const std::optional<json>& cur) { return json(cur ? cur->as_int64() + 1 : 1); });
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store->get("counter").value(), json(kThreads * kIncrements));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformance,
    ::testing::Values(BackendParam{"Memory", [] { return std::make_unique<MemoryBackendFactory>(); }},
                      BackendParam{"Postgres", [] { return std::make_unique<PostgresBackendFactory>(); }}),
    [](const ::testing::TestParamInfo<BackendParam>& info) { return info.param.name; });

}  // namespace
}  // namespace snap
